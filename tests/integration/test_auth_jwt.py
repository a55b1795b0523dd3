"""JWT in the password field (issue 13 item 4), black-box: the real sluice
binary, raw clients, tokens built here with Python's hmac and the
`cryptography` package (independently of libjwt): HS256 with a secret,
RS256 with a PEM public key, RS256/ES256 from a JWKS file, and the known
attacks: alg none, HS/RS key confusion, a kid naming a file, a stripped
signature; exp/nbf with the leeway; claims to user name and ACL.
"""

import base64
import hashlib
import hmac
import json
import os
import time
import unittest

import raw5
from auth_util import AuthCase

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import \
    decode_dss_signature

SECRET = "hs-secret-for-tests"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64int(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return b64(n.to_bytes(size, "big"))


def token(claims, alg="HS256", key=SECRET.encode(), header=None):
    h = {"alg": alg, "typ": "JWT"}
    h.update(header or {})
    signing = b64(json.dumps(h).encode()) + "." + b64(json.dumps(claims).encode())
    data = signing.encode()
    if alg == "none":
        sig = b""
    elif alg == "HS256":
        sig = hmac.new(key, data, hashlib.sha256).digest()
    elif alg == "RS256":
        sig = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return signing + "." + b64(sig)


def pem(pub):
    return pub.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


class Jwt(AuthCase):
    n_mqtt = 3

    @classmethod
    def prepare(cls):
        cls.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cls.ec = ec.generate_private_key(ec.SECP256R1())
        cls.rsa_pem = pem(cls.rsa.public_key())
        pub_path = os.path.join(cls.tmp, "rsa.pub")
        with open(pub_path, "wb") as f:
            f.write(cls.rsa_pem)
        rn = cls.rsa.public_key().public_numbers()
        en = cls.ec.public_key().public_numbers()
        jwks = {"keys": [
            {"kty": "oct", "k": b64(b"ignored")},
            {"kty": "RSA", "kid": "r1", "n": b64int(rn.n), "e": b64int(rn.e)},
            {"kty": "EC", "kid": "e1", "crv": "P-256",
             "x": b64int(en.x, 32), "y": b64int(en.y, 32)}]}
        jwks_path = os.path.join(cls.tmp, "jwks.json")
        with open(jwks_path, "w") as f:
            json.dump(jwks, f)
        cls.auth = {"jwt": {"secret": SECRET, "username_claim": "sub",
                            "acl_claim": "acl", "leeway_s": 5}}
        cls.listener_auth = {
            1: {"jwt": {"public_key": pub_path, "algorithms": ["RS256"],
                        "username_claim": "sub"},
                "acl": [{"user": "alice", "topic": "alice/#"}]},
            2: {"jwt": {"jwks": jwks_path}}}

    def c5(self, cid, tok, user="x", port=None):
        c = self.keep(raw5.Client5(port or self.broker.port))
        return c, c.connect(cid, username=user, password=tok).rc

    def now(self):
        return int(time.time())

    def good(self, **extra):
        claims = {"sub": "alice", "exp": self.now() + 60,
                  "acl": {"all": ["#"]}}
        claims.update(extra)
        return claims

    def test_hs256_valid(self):
        _, rc = self.conn4("j-hs-4", "x", token(self.good()))
        self.assertEqual(rc, 0)
        _, rc = self.c5("j-hs-5", token(self.good()))
        self.assertEqual(rc, 0)

    def test_exp_and_nbf_with_leeway(self):
        t = self.now()
        for claims, want in (({"exp": t - 60}, 4), ({"exp": t - 2}, 0),
                             ({"nbf": t + 60}, 4), ({"nbf": t + 2}, 0)):
            c = self.good()
            c.update(claims)
            _, rc = self.conn4("j-time-%s" % want, "x", token(c))
            self.assertEqual(rc, want, claims)
        _, rc = self.c5("j-exp-5", token(self.good(exp=t - 60)))
        self.assertEqual(rc, 0x86)
        self.assertIn("JWT: expired or not yet valid", self.broker.log_text())

    def test_wrong_signature(self):
        _, rc = self.conn4("j-badsig", "x", token(self.good(), key=b"other"))
        self.assertEqual(rc, 4)
        _, rc = self.c5("j-badsig-5", token(self.good(), key=b"other"))
        self.assertEqual(rc, 0x86)

    def test_alg_none_refused(self):
        for port in self.broker.ports:
            _, rc = self.conn4("j-none", "x", token(self.good(), alg="none"),
                               port=port)
            self.assertEqual(rc, 4)
            # none in the header, the secret's signature behind it
            real = token(self.good()).split(".")[2]
            forged = token(self.good(), alg="none")[:-1] + "." + real
            forged = forged.replace("..", ".")
            _, rc = self.conn4("j-none2", "x", forged, port=port)
            self.assertEqual(rc, 4)

    def test_signature_stripped(self):
        t = token(self.good())
        for stripped in (t.rsplit(".", 1)[0] + ".", t.rsplit(".", 1)[0]):
            _, rc = self.conn4("j-strip", "x", stripped)
            self.assertEqual(rc, 4)

    def test_key_confusion_hs256_with_public_key(self):
        """An HS256 token whose HMAC key is the RSA public key's PEM text:
        refused where that key verifies RS256 (file and JWKS)."""
        for port in self.broker.ports[1:]:
            forged = token(self.good(), key=self.rsa_pem)
            _, rc = self.conn4("j-conf", "x", forged, port=port)
            self.assertEqual(rc, 4)

    def test_kid_naming_a_file(self):
        p = self.broker.ports[2]
        with open(os.path.join(self.tmp, "rsa.pub"), "rb") as f:
            text = f.read()
        for kid in ("/etc/passwd", os.path.join(self.tmp, "rsa.pub"), "../../rsa.pub"):
            forged = token(self.good(), key=text, header={"kid": kid})
            _, rc = self.conn4("j-kid", "x", forged, port=p)
            self.assertEqual(rc, 4, kid)
        # a real key with a nonsense kid still verifies: kid selects nothing
        ok = token(self.good(), alg="RS256", key=self.rsa,
                   header={"kid": "/etc/passwd"})
        _, rc = self.conn4("j-kid-ok", "x", ok, port=p)
        self.assertEqual(rc, 0)

    def test_rs256_public_key_and_algorithm_list(self):
        p = self.broker.ports[1]
        _, rc = self.conn4("j-rs", "x", token(self.good(), "RS256", self.rsa), port=p)
        self.assertEqual(rc, 0)
        # ES256 is not in this listener's "algorithms" (and not its key)
        _, rc = self.conn4("j-es-no", "x", token(self.good(), "ES256", self.ec), port=p)
        self.assertEqual(rc, 4)

    def test_jwks_rs256_and_es256(self):
        p = self.broker.ports[2]
        _, rc = self.conn4("j-jwks-rs", "x", token(self.good(), "RS256", self.rsa), port=p)
        self.assertEqual(rc, 0)
        _, rc = self.conn4("j-jwks-es", "x", token(self.good(), "ES256", self.ec), port=p)
        self.assertEqual(rc, 0)
        other = ec.generate_private_key(ec.SECP256R1())
        _, rc = self.conn4("j-jwks-bad", "x", token(self.good(), "ES256", other), port=p)
        self.assertEqual(rc, 4)

    def test_no_token(self):
        _, rc = self.conn4("j-nopw", "alice")
        self.assertEqual(rc, 4)
        _, rc = self.conn4("j-anon")
        self.assertEqual(rc, 5)

    def test_acl_claim(self):
        claims = self.good(sub="dev1", acl={"pub": ["dev/dev1/#"],
                                            "sub": ["cmd/dev1/#"]})
        c, rc = self.c5("j-acl", token(claims))
        self.assertEqual(rc, 0)
        self.assertEqual(c.publish("dev/dev1/t", b"1", qos=1, pid=1).rc, 0x10)
        self.assertEqual(c.publish("dev/dev2/t", b"1", qos=1, pid=2).rc, 0x87)
        self.assertEqual(c.subscribe([("cmd/dev1/#", 1)], pid=3), [1])
        self.assertEqual(c.subscribe([("other/#", 1)], pid=4), [0x87])
        bad = self.good(acl={"pub": "not-a-list"})
        _, rc = self.conn4("j-acl-bad", "x", token(bad))
        self.assertEqual(rc, 4)

    def test_username_claim_selects_acl_section(self):
        """CONNECT says mallory, the token says alice: alice's rules apply."""
        p = self.broker.ports[1]
        tok = token(self.good(sub="alice"), "RS256", self.rsa)
        c, rc = self.c5("j-user", tok, user="mallory", port=p)
        self.assertEqual(rc, 0)
        self.assertEqual(c.publish("alice/x", b"1", qos=1, pid=1).rc, 0x10)
        self.assertEqual(c.publish("mallory/x", b"1", qos=1, pid=2).rc, 0x87)
        _, rc = self.conn4("j-nosub", "x", token({"exp": self.now() + 60},
                                                 "RS256", self.rsa), port=p)
        self.assertEqual(rc, 4)  # username_claim missing


if __name__ == "__main__":
    unittest.main()
