//! RS256 JSON Web Tokens, as Google service accounts and Snowflake key pairs use them, signed
//! with ring. Keys come as PEM: PKCS#8 (`BEGIN PRIVATE KEY`, what Google issues and Snowflake's
//! guide makes) or PKCS#1 (`BEGIN RSA PRIVATE KEY`).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "the private key is encrypted: decrypt it first (openssl pkcs8 -in key.p8 -nocrypt -out plain.p8 ...)"
    )]
    Encrypted,
    #[error("no PEM private key found (expected -----BEGIN PRIVATE KEY-----)")]
    NotPem,
    #[error("the private key is not a usable RSA key: {0}")]
    Rejected(String),
    #[error("could not sign: {0}")]
    Sign(String),
}

/// An RSA private key ready to sign.
pub struct SigningKey {
    pair: RsaKeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        if pem.contains("ENCRYPTED PRIVATE KEY") {
            return Err(KeyError::Encrypted);
        }
        let (label, der) = pem_body(pem).ok_or(KeyError::NotPem)?;
        let pair = match label.as_str() {
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der),
            _ => RsaKeyPair::from_pkcs8(&der),
        }
        .map_err(|e| KeyError::Rejected(e.to_string()))?;
        Ok(Self { pair })
    }

    /// A signed token with these claims; `kid` goes in the header when given.
    pub fn sign(&self, claims: &serde_json::Value, kid: Option<&str>) -> Result<String, KeyError> {
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = kid {
            header["kid"] = kid.into();
        }
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|e| KeyError::Sign(e.to_string()))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// `SHA256:<base64>` of the public key's DER SubjectPublicKeyInfo: Snowflake's
    /// `RSA_PUBLIC_KEY_FP`, which its JWTs must name.
    pub fn public_key_fingerprint(&self) -> String {
        let spki = rsa_spki(self.pair.public().as_ref());
        format!("SHA256:{}", STANDARD.encode(Sha256::digest(spki)))
    }
}

/// The label and decoded body of the first PEM block.
fn pem_body(pem: &str) -> Option<(String, Vec<u8>)> {
    let start = pem.find("-----BEGIN ")?;
    let rest = &pem[start + "-----BEGIN ".len()..];
    let (label, rest) = rest.split_once("-----")?;
    let end = rest.find("-----END ")?;
    let body: String = rest[..end].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(body)
        .ok()
        .map(|der| (label.to_owned(), der))
}

/// Wraps a PKCS#1 RSAPublicKey in a SubjectPublicKeyInfo (algorithm rsaEncryption, NULL
/// parameters), as `openssl rsa -pubout` writes it.
fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    const RSA_ALGORITHM: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bit_string = vec![0u8];
    bit_string.extend_from_slice(pkcs1);
    let mut inner = RSA_ALGORITHM.to_vec();
    inner.extend(der_tlv(0x03, &bit_string));
    der_tlv(0x30, &inner)
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_use_the_long_form_past_127_bytes() {
        assert_eq!(der_tlv(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        let long = der_tlv(0x04, &[0; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn bad_keys_say_what_is_wrong() {
        assert!(matches!(
            SigningKey::from_pem("hello"),
            Err(KeyError::NotPem)
        ));
        assert!(matches!(
            SigningKey::from_pem(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----"
            ),
            Err(KeyError::Encrypted)
        ));
        assert!(matches!(
            SigningKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
            Err(KeyError::Rejected(_))
        ));
    }
}
