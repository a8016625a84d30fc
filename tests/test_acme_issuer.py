"""ACME adapter pieces that need no server: account key formats, and errors that never quote a key."""

import josepy as jose
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from chalicelib.certificates.issuer import AccountKeyError, IssuanceError, account_jwk, new_private_key_pem


def pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


def test_new_account_keys_are_p256_and_sign_with_es256():
    jwk, alg = account_jwk(new_private_key_pem())
    assert isinstance(jwk, jose.JWKEC) and alg == jose.ES256


def test_rsa_pem_and_jwk_json_of_older_deployments_are_accepted():
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert account_jwk(pem(rsa_key))[1] == jose.RS256
    as_json = jose.JWKRSA(key=rsa_key).json_dumps()
    jwk, alg = account_jwk(as_json)
    assert alg == jose.RS256 and jwk.thumbprint() == jose.JWKRSA(key=rsa_key).thumbprint()


def test_unsupported_curve_is_refused_with_a_clear_error():
    with pytest.raises(IssuanceError, match="RSA or EC P-256"):
        account_jwk(pem(ec.generate_private_key(ec.SECP384R1())))


@pytest.mark.parametrize("document", [
    '{"kty": "OKP", "crv": "Ed25519", "d": "c2VjcmV0LXNlY3JldC1zZWNyZXQ", "x": "eA"}',
    '{"kty": "rsa", "n": "bg", "e": "AQAB", "d": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"}',
    '{"kty": "RSA", "n": "bg", "e": "AQAB", "d": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"}',
    '{"kty": "OKP", "d": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"',
])
def test_unreadable_account_key_gets_a_fixed_message_naming_the_parameter(document):
    with pytest.raises(AccountKeyError) as refused:
        account_jwk(document, "SSM parameter /w/LETSENCRYPT_ACCOUNT_KEY")
    assert str(refused.value).startswith("SSM parameter /w/LETSENCRYPT_ACCOUNT_KEY is neither")
    assert "c2VjcmV0" not in str(refused.value)
    # The library's error (which quotes the key) is neither the cause nor shown as the context.
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
