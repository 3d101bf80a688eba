"""Container readers, one module per family; ``attest.image.readers`` lists them."""
