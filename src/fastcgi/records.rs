//! FastCGI records (the FastCGI Specification 1.0, sections 3 and 8): their header, padding and
//! name-value pairs, written and read as bytes.

// Record types and constants, section 8 of the specification.
pub(super) const VERSION_1: u8 = 1;
pub(super) const BEGIN_REQUEST: u8 = 1;
pub(super) const ABORT_REQUEST: u8 = 2;
const END_REQUEST: u8 = 3;
pub(super) const PARAMS: u8 = 4;
pub(super) const STDIN: u8 = 5;
pub(super) const STDOUT: u8 = 6;
pub(super) const STDERR: u8 = 7;
pub(super) const DATA: u8 = 8;
pub(super) const GET_VALUES: u8 = 9;
pub(super) const GET_VALUES_RESULT: u8 = 10;
pub(super) const UNKNOWN_TYPE: u8 = 11;

pub(super) const KEEP_CONN: u8 = 1;
pub(super) const RESPONDER: u16 = 1;

pub(super) const REQUEST_COMPLETE: u8 = 0;
pub(super) const CANT_MPX_CONN: u8 = 1;
pub(super) const UNKNOWN_ROLE: u8 = 3;

/// The most content bytes one record carries while keeping records on 8-byte boundaries
/// (section 3.3 recommends padding to a multiple of eight).
const MAX_CONTENT: usize = 65528;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    pub(super) kind: u8,
    pub(super) id: u16,
    pub(super) content: Vec<u8>,
}

/// Appends one record, padded to a multiple of eight bytes. `content` is at most 65535 bytes.
pub(super) fn push_record(out: &mut Vec<u8>, kind: u8, id: u16, content: &[u8]) {
    debug_assert!(content.len() <= u16::MAX as usize);
    let padding = (8 - content.len() % 8) % 8;
    let [id1, id0] = id.to_be_bytes();
    let [len1, len0] = (content.len() as u16).to_be_bytes();
    out.extend_from_slice(&[VERSION_1, kind, id1, id0, len1, len0, padding as u8, 0]);
    out.extend_from_slice(content);
    out.extend_from_slice(&[0u8; 8][..padding]);
}

/// Appends a stream's bytes as as many records as they need.
pub(super) fn push_stream(out: &mut Vec<u8>, kind: u8, id: u16, mut data: &[u8]) {
    while !data.is_empty() {
        let n = data.len().min(MAX_CONTENT);
        push_record(out, kind, id, &data[..n]);
        data = &data[n..];
    }
}

pub(super) fn push_end_request(out: &mut Vec<u8>, id: u16, app_status: u32, protocol_status: u8) {
    let mut body = [0u8; 8];
    body[..4].copy_from_slice(&app_status.to_be_bytes());
    body[4] = protocol_status;
    push_record(out, END_REQUEST, id, &body);
}

/// Section 3.4: a length below 128 is one byte; otherwise four, the high bit set.
fn push_length(out: &mut Vec<u8>, n: usize) {
    if n < 128 {
        out.push(n as u8);
    } else {
        out.extend_from_slice(&((n as u32) | 0x8000_0000).to_be_bytes());
    }
}

/// Encodes name-value pairs (section 3.4).
pub(super) fn encode_pairs(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in pairs {
        push_length(&mut out, name.len());
        push_length(&mut out, value.len());
        out.extend_from_slice(name);
        out.extend_from_slice(value);
    }
    out
}

/// Decodes name-value pairs (section 3.4); `None` when a length runs past the end.
pub(super) fn decode_pairs(mut data: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    fn length(data: &mut &[u8]) -> Option<usize> {
        let first = *data.first()?;
        if first < 128 {
            *data = &data[1..];
            return Some(first as usize);
        }
        let bytes: [u8; 4] = data.get(..4)?.try_into().ok()?;
        *data = &data[4..];
        Some((u32::from_be_bytes(bytes) & 0x7fff_ffff) as usize)
    }
    let mut pairs = Vec::new();
    while !data.is_empty() {
        let name_len = length(&mut data)?;
        let value_len = length(&mut data)?;
        if data.len() < name_len.checked_add(value_len)? {
            return None;
        }
        let (name, rest) = data.split_at(name_len);
        let (value, rest) = rest.split_at(value_len);
        pairs.push((name.to_vec(), value.to_vec()));
        data = rest;
    }
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let mut out = Vec::new();
        push_record(&mut out, STDOUT, 258, b"hello");
        assert_eq!(
            out,
            [
                1, STDOUT, 1, 2, 0, 5, 3, 0, b'h', b'e', b'l', b'l', b'o', 0, 0, 0
            ]
        );
        let mut out = Vec::new();
        push_stream(&mut out, STDOUT, 1, &vec![7u8; MAX_CONTENT + 10]);
        // Two records: a full one, then ten bytes padded to sixteen.
        assert_eq!(out.len(), 8 + MAX_CONTENT + 8 + 16);
        let mut out = Vec::new();
        push_end_request(&mut out, 1, 258, UNKNOWN_ROLE);
        assert_eq!(out, [1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0]);
    }

    #[test]
    fn name_value_pairs() {
        let long = vec![b'v'; 300];
        let encoded = encode_pairs(&[(b"A", b"1"), (b"LONG", &long), (b"", b"")]);
        assert_eq!(&encoded[..4], [1, 1, b'A', b'1']);
        // 300 needs the four-byte form.
        assert_eq!(&encoded[4..9], [4, 0x80, 0, 1, 44]);
        assert_eq!(
            decode_pairs(&encoded).unwrap(),
            vec![
                (b"A".to_vec(), b"1".to_vec()),
                (b"LONG".to_vec(), long.clone()),
                (Vec::new(), Vec::new())
            ]
        );
        // Lengths that run past the end.
        assert_eq!(decode_pairs(&[5, 1, b'A']), None);
        assert_eq!(decode_pairs(&[0x80, 0]), None);
        assert_eq!(
            decode_pairs(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            None
        );
    }
}
