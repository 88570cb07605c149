//! The CGI response (RFC 3875 section 6) written to stdout.

use std::io::{self, Write};

use crate::http::{ResponseHead, ResponseSink};

/// Writes a CGI response (RFC 3875 section 6) to stdout.
pub struct CgiSink<W: Write + Send> {
    out: W,
    head_sent: bool,
}

impl<W: Write + Send> CgiSink<W> {
    pub fn new(out: W) -> CgiSink<W> {
        CgiSink {
            out,
            head_sent: false,
        }
    }

    pub fn head_sent(&self) -> bool {
        self.head_sent
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write + Send> ResponseSink for CgiSink<W> {
    fn send_head(&mut self, head: &ResponseHead, body_len: Option<u64>) -> io::Result<()> {
        self.head_sent = true;
        // Always an explicit Status line (RFC 3875 section 6.3.3): without one a server
        // assumes 200 and, for a Location header, may redirect internally.
        let mut text = Vec::with_capacity(256);
        head.write_lines(b"Status: ", &mut text);
        // A known length lets the server keep the connection alive without chunking.
        if let Some(n) = body_len
            && head.header("content-length").is_none()
        {
            text.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes());
        }
        text.extend_from_slice(b"\r\n");
        self.out.write_all(&text)?;
        self.out.flush()
    }

    fn send_body(&mut self, chunk: &[u8]) -> io::Result<()> {
        // Flushed chunk by chunk, so a streaming app streams where the server passes it on.
        self.out.write_all(chunk)?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http;

    fn written(head: ResponseHead, len: Option<u64>, chunks: &[&[u8]]) -> String {
        let mut sink = CgiSink::new(Vec::new());
        sink.send_head(&head, len).unwrap();
        for c in chunks {
            sink.send_body(c).unwrap();
        }
        http::latin1_string(&sink.into_inner())
    }

    #[test]
    fn response_writer() {
        let head = ResponseHead {
            status: http::parse_status("201 Created").unwrap(),
            headers: vec![
                ("Content-Type".into(), "text/plain".into()),
                ("Set-Cookie".into(), "a=1".into()),
                ("Set-Cookie".into(), "b=2".into()),
                ("X-Latin".into(), "caf\u{e9}".into()),
            ],
        };
        assert_eq!(
            written(head.clone(), Some(5), &[b"hel", b"lo"]),
            "Status: 201 Created\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\n\
             Set-Cookie: b=2\r\nX-Latin: caf\u{e9}\r\nContent-Length: 5\r\n\r\nhello"
        );
        assert_eq!(
            written(head.clone(), None, &[b"x"]),
            "Status: 201 Created\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\n\
             Set-Cookie: b=2\r\nX-Latin: caf\u{e9}\r\n\r\nx"
        );
        let mut with_length = head;
        with_length
            .headers
            .push(("content-length".into(), "5".into()));
        let out = written(with_length, Some(5), &[b"hello"]);
        assert_eq!(out.matches("ontent-").count(), 2, "{out}");
        assert!(!out.contains("Content-Length: 5"), "{out}");
    }
}
