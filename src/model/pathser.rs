//! Paths in JSON, losslessly. A Unix path is bytes; serde's `PathBuf` refuses one that
//! is not UTF-8 ("path contains invalid UTF-8 characters"), which stopped a whole
//! quarantine at one odd Maildir file name. With `#[serde(with = "crate::model::pathser")]` a
//! UTF-8 path is written as the string it always was (old manifests read as before), and
//! any other as `{"b64": "<its bytes in base64>"}`, read back to the very same bytes.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

#[derive(Serialize)]
#[serde(untagged)]
enum Out<'a> {
    Text(&'a str),
    Bytes { b64: String },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum In {
    Text(String),
    Bytes { b64: String },
}

fn out(p: &Path) -> Out<'_> {
    match p.to_str() {
        Some(t) => Out::Text(t),
        None => Out::Bytes {
            b64: crate::model::encode::b64(p.as_os_str().as_bytes()),
        },
    }
}

fn path_of<E: serde::de::Error>(v: In) -> Result<PathBuf, E> {
    match v {
        In::Text(t) => Ok(PathBuf::from(t)),
        In::Bytes { b64 } => crate::model::encode::unb64(&b64)
            .map(|b| PathBuf::from(OsString::from_vec(b)))
            .map_err(E::custom),
    }
}

pub fn serialize<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    out(p).serialize(s)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    path_of(In::deserialize(d)?)
}

/// The same for a list of paths.
pub mod vec {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|p| out(p)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
        Vec::<In>::deserialize(d)?
            .into_iter()
            .map(path_of)
            .collect()
    }
}

/// For reports meant to be read, not to round-trip: the path as text, any byte that is
/// not UTF-8 shown as U+FFFD.
pub fn lossy<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct R {
        #[serde(with = "super")]
        p: PathBuf,
        #[serde(with = "super::vec")]
        v: Vec<PathBuf>,
    }

    #[test]
    fn utf8_paths_stay_strings_and_other_bytes_round_trip() {
        let odd = PathBuf::from(OsString::from_vec(b"/m/cur/a\xffb:2,S".to_vec()));
        let r = R {
            p: PathBuf::from("/m/cur/é:2,S"),
            v: vec![odd.clone(), PathBuf::from("/m")],
        };
        let j = serde_json::to_string(&r).unwrap_or_default();
        assert!(j.contains(r#""p":"/m/cur/é:2,S""#), "{j}");
        assert!(j.contains(r#"{"b64":"#), "{j}");
        let back: R = serde_json::from_str(&j).unwrap_or_else(|e| panic!("{e}: {j}"));
        assert_eq!(back, r);
        // A manifest written before this module reads the same.
        let old: R =
            serde_json::from_str(r#"{"p":"/a/b","v":["/c"]}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(old.p, PathBuf::from("/a/b"));
        assert_eq!(old.v, vec![PathBuf::from("/c")]);
    }
}
