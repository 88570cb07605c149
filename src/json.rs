//! A parsed JSON document for reading events: objects keep their keys in the document's order,
//! as `serde_json`'s `preserve_order` maps do, but as a plain list.
//!
//! An event's objects have a few dozen keys at most, and each is read a handful of times: a
//! scan of a short list finds a key faster than hashing it does, and building the list needs
//! no hash table. Parsing an API Gateway event this way takes about 40% less time than into
//! `serde_json::Value` with `preserve_order`, which hashes every key with SipHash; end to end, a
//! warm hello-world invocation takes 6.6% fewer instructions and its rate is some 9% higher
//! (`bench/RESULTS.md`, "The Runtime API client"). An object
//! with many keys (a direct invocation may send anything) gets an index as it is parsed, so
//! that neither parsing nor lookups grow with the square of its size.
//!
//! Duplicate keys behave as in `serde_json`: the last value wins, in the first one's place.

use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
pub(crate) use serde_json::Number;

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Value>),
    Object(Map),
}

/// A JSON object: its entries in the document's order, each key once.
#[derive(Debug, Clone, Default)]
pub struct Map {
    entries: Vec<(String, Value)>,
    /// Positions by key, once the object has more than [`SCAN_LIMIT`] keys. Boxed, so that a
    /// value (an object's every entry holds one) stays small to move and to copy: 40
    /// bytes.
    #[allow(clippy::box_collection)]
    index: Option<Box<HashMap<String, usize>>>,
    /// One bit for each key's [`key_bit`]: a key whose bit is clear is not among the entries,
    /// so that parsing an object (each key is looked for before it is added) and looking up a
    /// key the event lacks (a source probes for many optional ones) mostly need no scan.
    bits: u64,
}

/// A key's bit in [`Map::bits`], from its length and last byte: what a memcmp compares first
/// for the keys of an event, which often share a prefix (`x-amzn-`, `x-forwarded-`).
fn key_bit(key: &str) -> u64 {
    let last = key.as_bytes().last().copied().unwrap_or(0) as usize;
    1 << ((key.len().wrapping_mul(7) ^ last) & 63)
}

/// How many keys an object may have before lookups use an index rather than a scan.
const SCAN_LIMIT: usize = 32;

impl PartialEq for Map {
    fn eq(&self, other: &Map) -> bool {
        self.entries == other.entries
    }
}

impl Map {
    pub fn new() -> Map {
        Map::default()
    }

    fn position(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None if self.bits & key_bit(key) == 0 => None,
            None => self.entries.iter().position(|(k, _)| k == key),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    /// Sets `key`: a new key goes last, an existing one keeps its place.
    pub fn insert(&mut self, key: String, value: Value) {
        if let Some(i) = self.position(&key) {
            self.entries[i].1 = value;
            return;
        }
        if let Some(index) = &mut self.index {
            index.insert(key.clone(), self.entries.len());
        } else if self.entries.len() >= SCAN_LIMIT {
            let mut index: HashMap<String, usize> = self
                .entries
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.clone(), i))
                .collect();
            index.insert(key.clone(), self.entries.len());
            self.index = Some(Box::new(index));
        }
        self.bits |= key_bit(&key);
        self.entries.push((key, value));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.entries.iter().map(|(k, _)| k)
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a String, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, Value)>,
        fn(&'a (String, Value)) -> (&'a String, &'a Value),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl Value {
    /// A member of an object; `None` for a missing key or a value that is not an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(map) => map.get(key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }

    /// Parses a document.
    ///
    /// A document that is UTF-8 throughout (every one a valid event is: RFC 8259, section 8.1)
    /// is checked once as a whole and parsed as text, so that its strings need no check each
    /// (`serde_json` checks every string of a byte slice on its own, some 100 instructions for
    /// each of an event's 60-odd keys and values). One that is not is parsed as bytes, for the
    /// same error, naming the same place, as before.
    pub fn from_slice(bytes: &[u8]) -> serde_json::Result<Value> {
        match std::str::from_utf8(bytes) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(bytes),
        }
    }
}

impl From<&serde_json::Value> for Value {
    fn from(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Number(n.clone()),
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(items) => {
                Value::Array(items.iter().map(Value::from).collect())
            }
            serde_json::Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    out.insert(k.clone(), Value::from(v));
                }
                Value::Object(out)
            }
        }
    }
}

impl From<&Value> for serde_json::Value {
    fn from(v: &Value) -> serde_json::Value {
        match v {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => serde_json::Value::Number(n.clone()),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(serde_json::Value::from).collect())
            }
            Value::Object(map) => serde_json::Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::from(v)))
                    .collect(),
            ),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        serde_json::Value::from(self).fmt(f)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        // Room for an API Gateway event's deepest run of open objects (the top level, then
        // `requestContext` and the object inside it) without growing.
        let mut scratch = Vec::with_capacity(32);
        deserializer.deserialize_any(ValueVisitor {
            scratch: &mut scratch,
        })
    }
}

/// Builds a value; an object's entries gather on `scratch`, shared by the whole document, and
/// move into a list of their exact length once the object ends. An event's objects grew their
/// lists four or five times each, which took some 2% of a warm hello-world invocation.
struct ValueVisitor<'s> {
    scratch: &'s mut Vec<(String, Value)>,
}

impl<'de> DeserializeSeed<'de> for ValueVisitor<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity, so the parser never hands one over.
        Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ValueVisitor {
            scratch: &mut *self.scratch,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        // An object inside a value ends before the value does, and takes its entries off the
        // scratch list as it ends: past `start` are only this object's.
        let start = self.scratch.len();
        let mut bits = 0;
        // Past as many keys as a scan serves, the rest go through `insert`, which indexes them.
        let mut indexed: Option<Map> = None;
        while let Some(key) = access.next_key::<String>()? {
            let value = access.next_value_seed(ValueVisitor {
                scratch: &mut *self.scratch,
            })?;
            if let Some(map) = &mut indexed {
                map.insert(key, value);
                continue;
            }
            let bit = key_bit(&key);
            if bits & bit != 0
                && let Some(entry) = self.scratch[start..].iter_mut().find(|(k, _)| *k == key)
            {
                entry.1 = value;
                continue;
            }
            bits |= bit;
            self.scratch.push((key, value));
            if self.scratch.len() - start == SCAN_LIMIT {
                indexed = Some(Map {
                    entries: self.scratch.drain(start..).collect(),
                    index: None,
                    bits,
                });
            }
        }
        Ok(Value::Object(indexed.unwrap_or_else(|| Map {
            entries: self.scratch.drain(start..).collect(),
            index: None,
            bits,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_as_serde_json_does_keeping_order() {
        let text = br#"{"b": 1, "a": [true, null, -2, 18446744073709551615, 1.5, "x"],
                        "c": {"z": {}, "y": []}, "b": "again"}"#;
        let ours = Value::from_slice(text).unwrap();
        let theirs: serde_json::Value = serde_json::from_slice(text).unwrap();
        assert_eq!(serde_json::Value::from(&ours), theirs);
        assert_eq!(ours, Value::from(&theirs));
        let Value::Object(map) = &ours else {
            panic!("an object")
        };
        // The duplicate's value, in the first one's place.
        assert_eq!(map.keys().collect::<Vec<_>>(), ["b", "a", "c"]);
        assert_eq!(ours.get("b"), Some(&Value::String("again".into())));
        assert_eq!(
            ours.get("c").and_then(|c| c.get("z")).map(Value::is_object),
            Some(true)
        );
        assert_eq!(ours.get("missing"), None);
        assert_eq!(Value::String("s".into()).get("b"), None);
        assert!(Value::from_slice(b"{\"a\": 1,}").is_err());
        assert_eq!(ours.to_string(), theirs.to_string());
    }

    #[test]
    fn a_value_stays_small() {
        assert_eq!(std::mem::size_of::<Value>(), 40);
    }

    #[test]
    fn keys_sharing_a_bit_are_still_told_apart() {
        // Same length and last byte: the same bit, so only a comparison tells them apart.
        assert_eq!(key_bit("ab"), key_bit("bb"));
        let v = Value::from_slice(br#"{"ab": 1, "bb": 2, "ab": 3}"#).unwrap();
        let Value::Object(map) = &v else {
            panic!("an object")
        };
        assert_eq!(map.keys().collect::<Vec<_>>(), ["ab", "bb"]);
        assert_eq!(v.get("ab"), Some(&Value::Number(3.into())));
        assert_eq!(v.get("bb"), Some(&Value::Number(2.into())));
        assert_eq!(v.get("cb"), None);
        assert_eq!(v.get("b"), None);
        assert_eq!(v.get(""), None);
        let empty = Value::from_slice(br#"{"": 0}"#).unwrap();
        assert_eq!(empty.get(""), Some(&Value::Number(0.into())));
    }

    #[test]
    fn text_that_is_not_utf8_fails_as_serde_json_says() {
        for bytes in [&b"{\"a\": \"\xff\"}"[..], b"\xef\xbb{}", b"{\"\xc3\": 1}"] {
            let ours = Value::from_slice(bytes).unwrap_err().to_string();
            let theirs = serde_json::from_slice::<serde_json::Value>(bytes)
                .unwrap_err()
                .to_string();
            assert_eq!(ours, theirs);
        }
        let text = "{\"caf\u{e9}\": \"\u{1f600}\"}";
        let v = Value::from_slice(text.as_bytes()).unwrap();
        assert_eq!(
            v.get("caf\u{e9}").and_then(Value::as_str),
            Some("\u{1f600}")
        );
    }

    #[test]
    fn nested_objects_keep_their_own_entries() {
        // An inner object large enough to be indexed, between an outer key and its repeat.
        let mut inner = String::from("{");
        for i in 0..40 {
            inner.push_str(&format!(
                "\"i{i}\": {{\"deep\": {i}, \"i{i}\": [{{}}, {{\"x\": 1}}]}},"
            ));
        }
        inner.push_str("\"i3\": \"again\"}");
        let text =
            format!(r#"{{"a": 1, "inner": {inner}, "b": {{"c": {{}}, "d": 2}}, "a": 3, "e": []}}"#);
        let ours = Value::from_slice(text.as_bytes()).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::Value::from(&ours), theirs);
        let Value::Object(map) = &ours else {
            panic!("an object")
        };
        assert_eq!(map.keys().collect::<Vec<_>>(), ["a", "inner", "b", "e"]);
        assert_eq!(ours.get("a"), Some(&Value::Number(3.into())));
        let inner = ours.get("inner").unwrap();
        let Value::Object(inner_map) = inner else {
            panic!("an object")
        };
        assert_eq!(inner_map.len(), 40);
        assert_eq!(inner_map.keys().nth(3).map(String::as_str), Some("i3"));
        assert_eq!(inner.get("i3"), Some(&Value::String("again".into())));
        assert_eq!(
            inner.get("i39").and_then(|v| v.get("deep")),
            Some(&Value::Number(39.into()))
        );
        assert_eq!(ours.to_string(), theirs.to_string());
    }

    #[test]
    fn large_objects_keep_order_and_find_every_key() {
        let mut text = String::from("{");
        for i in 0..1000 {
            text.push_str(&format!("\"k{i}\": {i},"));
        }
        // Repeats after the index took over: replaced in place.
        text.push_str("\"k5\": \"five\", \"k999\": \"last\"}");
        let v = Value::from_slice(text.as_bytes()).unwrap();
        let Value::Object(map) = &v else {
            panic!("an object")
        };
        assert_eq!(map.len(), 1000);
        assert_eq!(map.keys().next().map(String::as_str), Some("k0"));
        assert_eq!(map.keys().last().map(String::as_str), Some("k999"));
        assert_eq!(v.get("k5"), Some(&Value::String("five".into())));
        assert_eq!(v.get("k999"), Some(&Value::String("last".into())));
        assert_eq!(v.get("k500"), Some(&Value::Number(500.into())));
    }
}
