#!/usr/bin/python3
"""Verifies an entitlement snapshot with the broker's published key, then checks an agent locally.

usage: verify_entitlements.py STUBS_DIR ADDRESS SERVICE_TOKEN ACCOUNT_ID AGENT_ID PRODUCT
Needs grpcio, protobuf and cryptography (Debian: python3-grpcio python3-protobuf python3-cryptography),
and stubs generated from protos/ (scripts/interop/generate.sh). Prints one JSON line.
"""
import json
import sys
import time

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey  # noqa: E402
from licensebroker.v1 import entitlement_service_pb2 as pb, entitlement_service_pb2_grpc  # noqa: E402

address, token, account, agent, product = sys.argv[2:7]
stub = entitlement_service_pb2_grpc.EntitlementServiceStub(grpc.insecure_channel(address))
auth = (("authorization", "Bearer " + token),)
now_ms = int(time.time() * 1000)

# 1. The published keys (also served as a JWKS): kid -> raw 32-byte Ed25519 public key, unless expired.
keys = {k.kid: Ed25519PublicKey.from_public_bytes(k.public_key)
        for k in stub.ListEntitlementKeys(pb.ListEntitlementKeysRequest(), timeout=10).keys
        if k.expires_unix_ms == 0 or k.expires_unix_ms > now_ms}

# 2. The signed snapshot: verify the signature over the exact document bytes BEFORE parsing them.
signed = stub.GetEntitlementSnapshot(pb.GetEntitlementSnapshotRequest(account_id=account), metadata=auth, timeout=10)
keys[signed.kid].verify(signed.signature, signed.document)  # raises InvalidSignature (or KeyError: unknown kid)
doc = pb.EntitlementDocument.FromString(signed.document)
assert doc.kind == pb.ENTITLEMENT_DOCUMENT_KIND_SNAPSHOT and doc.account_id == account and doc.not_after_unix_ms > now_ms

# 3. The broker's rule, locally: known agent, subscription valid now, then unlimited product or a seat of it.
terms = {p.product: p for p in doc.products}
agents = {a.agent_id: a for a in doc.agents}
if agent not in agents:
    status = "UNKNOWN_AGENT"
elif product not in terms or terms[product].valid_until_unix_ms <= now_ms:
    status = "NO_ACTIVE_SUBSCRIPTION"
elif terms[product].unlimited or any(s.product == product for s in agents[agent].seats):
    status = "ENTITLED"
else:
    status = "NO_SEAT_ASSIGNED"

# 4. One flipped byte and the signature no longer holds.
tampered = bytearray(signed.document)
tampered[len(tampered) // 2] ^= 1
try:
    keys[signed.kid].verify(signed.signature, bytes(tampered))
    tampered_verifies = True
except InvalidSignature:
    tampered_verifies = False

print(json.dumps({"kid": signed.kid, "version": doc.version, "agents": len(agents), "status": status,
                  "tampered_verifies": tampered_verifies}))
