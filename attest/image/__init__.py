"""Offline verification of a firmware file or flash dump, before it touches a rig (``attest image``).

A file is opened by what its bytes are, never by its name: containers nest (an update package holds
a tarball holding a uImage holding a gzip'd ramdisk), each layer is hashed, vendor signatures are
checked with the trust store's vendor keys, every file inside is audited for known backdoors, and
the whole is matched against the signed manifest's releases.

Hostile files are the normal case here. Nothing is ever extracted to disk: every layer is read in
memory, under caps on the bytes decompression may produce, the number of entries, and the nesting
depth (``limits.Limits``); a reader that cannot make sense of its bytes ends that branch with a
reason code, and the verdict says what could not be checked.

Layout: ``detect`` (magic bytes), ``readers`` (format -> reader), ``containers/`` (one module per
container family), ``bitmain`` and ``canaan`` (vendor package layouts and their signatures),
``vendorsig`` (RSA checks with the trust store's vendor keys), ``walk`` (the bounded recursion),
``limits`` (the byte, entry, depth, time and work budgets), ``audit``, ``shellrules`` and
``passwords`` (what is inside), ``unsigned`` (bytes no signature covers: code or data),
``appraise_image`` (the verdict, as an ``Appraisal`` so the CLI and GUI show it exactly as
``attest verify`` does), and ``isolated`` / ``worker`` / ``wire`` (the file read in a child
process under a memory cap and deadline, its answer sent back as JSON). The entry the CLI and
GUI call is ``isolated.check_file_isolated``; what the station refuses to vouch for is in
docs/fail-closed.md.

Licence: the project stays Apache-2.0, so no GPL/AGPL parser is used (``ubi-reader`` is GPL-3;
UBI and UBIFS are read by our own ``struct`` readers). Reasoning: docs/licensing.md.
"""
