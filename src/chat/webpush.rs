//! The two pieces of a Web Push request that need cryptography, on RustCrypto's P-256, HKDF
//! and AES-GCM: the body, encrypted for the browser as RFC 8291 says (`aes128gcm`, RFC 8188,
//! one record), and the `Authorization: vapid t=…, k=…` header of RFC 8292 (an ES256 JWT).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hkdf::Hkdf;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

/// The record size written in the header: the one record must fit in it.
const RECORD_SIZE: u32 = 4096;

/// Why a subscription's keys can't be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("p256dh must be the base64url of an uncompressed P-256 point (65 bytes)")]
    P256dh,
    #[error("auth must be the base64url of 16 bytes")]
    Auth,
}

/// A browser's keys, decoded and checked.
#[derive(Clone)]
pub struct BrowserKeys {
    pub public: PublicKey,
    pub auth: [u8; 16],
}

impl BrowserKeys {
    /// From the base64url strings of a subscription (padding tolerated).
    pub fn parse(p256dh: &str, auth: &str) -> Result<BrowserKeys, KeyError> {
        let point = decode(p256dh).ok_or(KeyError::P256dh)?;
        if point.len() != 65 || point[0] != 4 {
            return Err(KeyError::P256dh);
        }
        let public = PublicKey::from_sec1_bytes(&point).map_err(|_| KeyError::P256dh)?;
        let auth: [u8; 16] = decode(auth)
            .and_then(|a| a.try_into().ok())
            .ok_or(KeyError::Auth)?;
        Ok(BrowserKeys { public, auth })
    }
}

/// base64url, with or without padding.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

/// The uncompressed point of a public key (65 bytes).
pub fn uncompressed(public: &PublicKey) -> Vec<u8> {
    public.to_encoded_point(false).as_bytes().to_vec()
}

/// Encrypts `plaintext` for the browser: the whole `aes128gcm` body. `None` when it does not
/// fit one record.
pub fn encrypt(keys: &BrowserKeys, plaintext: &[u8]) -> Option<Vec<u8>> {
    let mut rng = rand::rngs::OsRng;
    let ephemeral = SecretKey::random(&mut rng);
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rng, &mut salt);
    encrypt_with(keys, plaintext, &ephemeral, salt)
}

/// [`encrypt`] with the sender's key pair and the salt given (RFC 8291's example is made so).
pub fn encrypt_with(
    keys: &BrowserKeys,
    plaintext: &[u8],
    ephemeral: &SecretKey,
    salt: [u8; 16],
) -> Option<Vec<u8>> {
    // One record: the plaintext, the last-record delimiter 0x02, the 16-byte tag.
    if plaintext.len() + 1 + 16 > RECORD_SIZE as usize {
        return None;
    }
    let as_public = uncompressed(&ephemeral.public_key());
    let ua_public = uncompressed(&keys.public);
    let shared = p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), keys.public.as_affine());
    // RFC 8291 section 3.4: IKM from the shared secret, the auth secret and both public keys.
    let mut info = b"WebPush: info\0".to_vec();
    info.extend_from_slice(&ua_public);
    info.extend_from_slice(&as_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(&keys.auth), shared.raw_secret_bytes().as_slice())
        .expand(&info, &mut ikm)
        .ok()?;
    // RFC 8188: the content-encryption key and nonce from the salt.
    let prk = Hkdf::<Sha256>::new(Some(&salt), &ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .ok()?;
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce).ok()?;
    let mut record = plaintext.to_vec();
    record.push(2);
    let sealed = Aes128Gcm::new_from_slice(&cek)
        .ok()?
        .encrypt(Nonce::from_slice(&nonce), record.as_slice())
        .ok()?;
    let mut body = Vec::with_capacity(16 + 4 + 1 + 65 + sealed.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(as_public.len() as u8);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&sealed);
    Some(body)
}

/// The server's VAPID key pair.
#[derive(Clone)]
pub struct Vapid {
    key: SigningKey,
    /// base64url of the uncompressed public point.
    pub public_key: String,
}

impl Vapid {
    /// A new key pair, as the base64url of its private scalar.
    pub fn generate() -> String {
        let secret = SecretKey::random(&mut rand::rngs::OsRng);
        URL_SAFE_NO_PAD.encode(secret.to_bytes())
    }

    /// The key pair of a stored private scalar.
    pub fn from_stored(private: &str) -> Option<Vapid> {
        let secret = SecretKey::from_slice(&decode(private)?).ok()?;
        let public_key = URL_SAFE_NO_PAD.encode(uncompressed(&secret.public_key()));
        Some(Vapid {
            key: SigningKey::from(secret),
            public_key,
        })
    }

    /// The `Authorization` header of a push to `origin` (the endpoint's scheme, host and port),
    /// valid until `expires` (Unix seconds; at most 24 hours ahead, RFC 8292).
    pub fn authorization(&self, origin: &str, subject: &str, expires: i64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({"aud": origin, "exp": expires, "sub": subject});
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let signature: Signature = self.key.sign(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(signature.to_bytes());
        format!("vapid t={signing_input}.{signature}, k={}", self.public_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8291 appendix A: the example's keys and salt give the example's body.
    #[test]
    fn the_rfc_example_encrypts_to_the_rfc_body() {
        let ua_public = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
        let auth = "BTBZMqHH6r4Tts7J_aSIgg";
        let as_private = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
        let salt: [u8; 16] = decode("DGv6ra1nlYgDCS1FRnbzlw")
            .unwrap()
            .try_into()
            .unwrap();
        let keys = BrowserKeys::parse(ua_public, auth).unwrap();
        let ephemeral = SecretKey::from_slice(&decode(as_private).unwrap()).unwrap();
        let body = encrypt_with(
            &keys,
            b"When I grow up, I want to be a watermelon",
            &ephemeral,
            salt,
        )
        .unwrap();
        let expected = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";
        assert_eq!(URL_SAFE_NO_PAD.encode(body), expected);
    }

    #[test]
    fn bad_keys_are_refused() {
        assert_eq!(
            BrowserKeys::parse("AAAA", "BTBZMqHH6r4Tts7J_aSIgg").err(),
            Some(KeyError::P256dh)
        );
        let ua = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
        assert_eq!(BrowserKeys::parse(ua, "AAAA").err(), Some(KeyError::Auth));
    }

    #[test]
    fn a_stored_key_gives_a_65_byte_public_key() {
        let vapid = Vapid::from_stored(&Vapid::generate()).unwrap();
        assert_eq!(decode(&vapid.public_key).unwrap().len(), 65);
        let header = vapid.authorization("https://push.example", "mailto:a@b.c", 1);
        assert!(header.starts_with("vapid t=ey") && header.contains(", k="));
    }
}
