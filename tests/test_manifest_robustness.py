"""Hostile bytes: truncations and bit flips anywhere in an envelope, its payload or its
certificates must end in a ManifestError with a registered code, never another exception."""

from __future__ import annotations

import base64
import random

import pytest
from cryptography.hazmat.primitives import serialization

from attest.manifest import ManifestError, canonical_json, parse_payload, sign_envelope, verify_manifest
from attest.verdict import REASONS
from tests.manifest_helpers import NOW, manifest_payload, store_for, to_bytes, vendor


@pytest.fixture(scope="module")
def pki():
    return vendor()


@pytest.fixture
def trust(tmp_path, pki):
    return store_for(tmp_path / "trust", pki)


def _mutations(data: bytes, rng: random.Random, count: int):
    for _ in range(count):
        yield data[: rng.randrange(len(data))]
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        yield bytes(flipped)


def test_truncations_and_bit_flips_raise_only_manifest_errors(pki, trust):
    rng = random.Random(8785)
    envelope = sign_envelope(manifest_payload(), [pki.signer()])
    data = to_bytes(envelope)
    accepted = refusals = 0
    for mutated in _mutations(data, rng, 150):
        try:
            verify_manifest(mutated, trust, now=NOW)
            accepted += 1
        except ManifestError as e:
            assert e.code in REASONS
            refusals += 1
    # Flips inside the payload itself: still well-formed base64, so they reach the signature check.
    body = bytearray(base64.b64decode(envelope["payload"]))
    for _ in range(60):
        mutated_body = bytearray(body)
        mutated_body[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
        tampered = dict(envelope, payload=base64.b64encode(bytes(mutated_body)).decode())
        with pytest.raises(ManifestError) as info:
            verify_manifest(to_bytes(tampered), trust, now=NOW)
        assert info.value.code == "MANIFEST_SIGNATURE_INVALID"
    assert refusals > 100


def test_corrupted_certificate_der_raises_only_manifest_errors(pki, trust):
    rng = random.Random(5280)
    envelope = sign_envelope(manifest_payload(), [pki.signer()])
    ders = [c.public_bytes(serialization.Encoding.DER) for c in pki.signer().certificates]
    for _ in range(120):
        which = rng.randrange(len(ders))
        der = bytearray(ders[which])
        der[rng.randrange(len(der))] ^= 1 << rng.randrange(8)
        pem = (b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(bytes(der))
               + b"-----END CERTIFICATE-----\n").decode()
        certs = list(envelope["signatures"][0]["certs"])
        certs[which] = pem
        tampered = dict(envelope, signatures=[dict(envelope["signatures"][0], certs=certs)])
        try:
            verify_manifest(to_bytes(tampered), trust, now=NOW)
        except ManifestError as e:
            assert e.code in REASONS


def test_payload_bit_flips_raise_only_manifest_errors():
    rng = random.Random(1)
    body = canonical_json(manifest_payload())
    for mutated in _mutations(body, rng, 200):
        try:
            parse_payload(mutated)
        except ManifestError as e:
            assert e.code in REASONS
