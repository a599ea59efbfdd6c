//! Serde helpers that keep models exact and compact in JSON: float arrays are base64 of their
//! little-endian IEEE-754 bytes (NaN and infinities survive, nothing is rounded), and single
//! floats that may be non-finite are written as numbers or the strings "NaN", "inf", "-inf".

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

fn encode(values: &[f64]) -> String {
    let mut bytes = Vec::with_capacity(values.len() * 8);
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    STANDARD.encode(bytes)
}

fn decode<E: serde::de::Error>(text: &str) -> Result<Vec<f64>, E> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| E::custom(format!("invalid base64 float array: {e}")))?;
    if bytes.len() % 8 != 0 {
        return Err(E::custom("float array length is not a multiple of 8 bytes"));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            f64::from_le_bytes(b)
        })
        .collect())
}

/// `Vec<f64>` as one base64 string.
pub mod floats {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let text = String::deserialize(d)?;
        decode(&text)
    }
}

/// `Option<Vec<f64>>` as one base64 string, for fields that may be absent.
pub mod optional_floats {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<f64>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| decode(&text))
            .transpose()
    }
}

/// `Vec<Vec<f64>>` as a list of base64 strings.
pub mod float_rows {
    use super::*;
    use serde::ser::SerializeSeq;

    pub fn serialize<S: Serializer>(rows: &[Vec<f64>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(rows.len()))?;
        for row in rows {
            seq.serialize_element(&encode(row))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts.iter().map(|t| decode(t)).collect()
    }
}

/// One `f64` that may be NaN or infinite.
pub mod float {
    use super::*;

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_nan() {
            s.serialize_str("NaN")
        } else if *v == f64::INFINITY {
            s.serialize_str("inf")
        } else if *v == f64::NEG_INFINITY {
            s.serialize_str("-inf")
        } else {
            s.serialize_f64(*v)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(v) => Ok(v),
            Raw::Text(t) => match t.as_str() {
                "NaN" => Ok(f64::NAN),
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                other => Err(D::Error::custom(format!(
                    "expected a number, got {other:?}"
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct T {
        #[serde(with = "super::floats")]
        a: Vec<f64>,
        #[serde(with = "super::float")]
        b: f64,
        #[serde(with = "super::float_rows")]
        c: Vec<Vec<f64>>,
    }

    #[test]
    fn floats_round_trip_bit_for_bit_including_nan() {
        let t = T {
            a: vec![0.1, -0.0, f64::MAX, f64::NAN, f64::INFINITY],
            b: f64::NAN,
            c: vec![vec![1.5], vec![]],
        };
        let json = serde_json::to_string(&t).unwrap();
        let back: T = serde_json::from_str(&json).unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back.a), bits(&t.a));
        assert!(back.b.is_nan());
        assert_eq!(back.c, t.c);
    }
}
