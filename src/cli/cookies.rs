//! The cookie engine of `rwsgi call` (-b FILE, -c FILE): cookies kept from `Set-Cookie`
//! (RFC 6265 section 5.2), sent back where they belong (section 5.4), and read and written in
//! the Netscape cookie-jar format curl uses, so a jar moves between curl and rwsgi-call.

use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Cookie {
    name: String,
    value: String,
    /// `None`: a cookie read from `Set-Cookie:` lines in a file, with no domain: sent anywhere.
    domain: Option<String>,
    /// Set by a Domain attribute: the cookie also goes to the domain's subdomains.
    tailmatch: bool,
    /// The path as it is written to the jar.
    path: String,
    secure: bool,
    http_only: bool,
    /// Seconds since the epoch; 0 for a session cookie.
    expires: i64,
    /// The order cookies were first made in: the jar and the Cookie header list newer first,
    /// as curl does.
    created: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Jar {
    cookies: Vec<Cookie>,
    counter: u64,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// RFC 6265 section 5.1.4: the path a cookie is matched with (no trailing `/`, `/` at least).
fn match_path(path: &str) -> &str {
    let p = path.trim_matches('"');
    if !p.starts_with('/') {
        return "/";
    }
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() { "/" } else { trimmed }
}

fn path_matches(cookie_path: &str, request_path: &str) -> bool {
    let cp = match_path(cookie_path);
    cp == "/"
        || request_path == cp
        || (request_path.starts_with(cp) && request_path.as_bytes().get(cp.len()) == Some(&b'/'))
}

fn is_ip(host: &str) -> bool {
    host.starts_with('[') || host.parse::<std::net::Ipv4Addr>().is_ok()
}

impl Jar {
    /// Reads a cookie file: Netscape lines (seven tab-separated fields, `#HttpOnly_` before the
    /// domain of an HttpOnly cookie) and `Set-Cookie:` header lines, as curl reads them.
    pub(crate) fn load(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if let Some(header) = line
                .get(..11)
                .filter(|p| p.eq_ignore_ascii_case("set-cookie:"))
                .map(|_| &line[11..])
            {
                self.set_any_host(header.trim());
                continue;
            }
            let (line, http_only) = match line.strip_prefix("#HttpOnly_") {
                Some(rest) => (rest, true),
                None => (line, false),
            };
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            if fields.len() < 6 {
                continue;
            }
            let domain = fields[0].to_ascii_lowercase();
            let tailmatch = fields[1].eq_ignore_ascii_case("TRUE");
            let domain = domain.strip_prefix('.').unwrap_or(&domain).to_string();
            let expires = fields[4].parse::<i64>().unwrap_or(0);
            if expires != 0 && expires <= now() {
                continue;
            }
            let cookie = Cookie {
                domain: Some(domain),
                tailmatch,
                path: fields[2].to_string(),
                secure: fields[3].eq_ignore_ascii_case("TRUE"),
                expires,
                name: fields[5].to_string(),
                value: fields.get(6).copied().unwrap_or("").to_string(),
                http_only,
                created: 0,
            };
            self.store(cookie);
        }
    }

    fn set_any_host(&mut self, header: &str) {
        if let Some(mut cookie) = parse(header, None, "/", true) {
            if cookie.domain.as_deref() == Some("") {
                cookie.domain = None;
            }
            self.store(cookie);
        }
    }

    /// A `Set-Cookie` value the response to `host` and `path` carried; `secure` says whether
    /// the request was made in a secure context (a Secure cookie is refused otherwise).
    pub(crate) fn set(&mut self, header: &str, host: &str, path: &[u8], secure: bool) {
        let path = String::from_utf8_lossy(path);
        let Some(cookie) = parse(header, Some(host), &path, secure) else {
            return;
        };
        self.store(cookie);
    }

    fn store(&mut self, mut cookie: Cookie) {
        let same = |c: &Cookie| {
            c.name == cookie.name
                && c.domain == cookie.domain
                && match_path(&c.path) == match_path(&cookie.path)
        };
        let old = self.cookies.iter().position(same);
        let expired = cookie.expires != 0 && cookie.expires <= now();
        match old {
            // An update keeps its place among the others (curl keeps the first creation time).
            Some(i) if !expired => {
                cookie.created = self.cookies[i].created;
                self.cookies[i] = cookie;
            }
            Some(i) => {
                self.cookies.remove(i);
            }
            None if expired => {}
            None => {
                self.counter += 1;
                cookie.created = self.counter;
                self.cookies.push(cookie);
            }
        }
    }

    /// The Cookie header for a request (RFC 6265 section 5.4): longer paths first, then newer
    /// cookies first, as curl orders them; empty when no cookie goes there.
    pub(crate) fn header(&self, host: &str, path: &[u8], secure: bool) -> String {
        let path = String::from_utf8_lossy(path);
        let t = now();
        let mut matching: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|c| c.expires == 0 || c.expires > t)
            .filter(|c| !c.secure || secure)
            .filter(|c| match &c.domain {
                None => true,
                Some(d) if c.tailmatch => {
                    host == d
                        || (host.ends_with(d.as_str())
                            && host[..host.len() - d.len()].ends_with('.'))
                }
                Some(d) => host == d,
            })
            .filter(|c| path_matches(&c.path, &path))
            .collect();
        matching.sort_by(|a, b| {
            let len = |c: &Cookie| match_path(&c.path).len();
            let dlen = |c: &Cookie| c.domain.as_ref().map_or(0, String::len);
            len(b)
                .cmp(&len(a))
                .then(dlen(b).cmp(&dlen(a)))
                .then(b.name.len().cmp(&a.name.len()))
                .then(b.created.cmp(&a.created))
        });
        matching
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The jar in the Netscape format curl writes, newest cookie first.
    pub(crate) fn to_text(&self) -> String {
        let mut text = String::from(
            "# Netscape HTTP Cookie File\n# https://curl.se/docs/http-cookies.html\n\
             # This file was generated by rwsgi-call! Edit at your own risk.\n\n",
        );
        let t = now();
        let mut cookies: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|c| c.expires == 0 || c.expires > t)
            .collect();
        cookies.sort_by_key(|c| std::cmp::Reverse(c.created));
        let tf = |b: bool| if b { "TRUE" } else { "FALSE" };
        for c in cookies {
            let domain = c.domain.as_deref().unwrap_or("unknown");
            text.push_str(&format!(
                "{}{}{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                if c.http_only { "#HttpOnly_" } else { "" },
                if c.tailmatch { "." } else { "" },
                domain,
                tf(c.tailmatch),
                c.path,
                tf(c.secure),
                c.expires,
                c.name,
                c.value
            ));
        }
        text
    }
}

/// Parses one `Set-Cookie` value (RFC 6265 section 5.2) for a response to `host` and `path`.
/// `None` for a cookie a client must ignore.
fn parse(header: &str, host: Option<&str>, path: &str, secure_context: bool) -> Option<Cookie> {
    let mut parts = header.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    let name = name.trim();
    if name.is_empty() || name.contains(['\t', '\r', '\n']) {
        return None;
    }
    let mut cookie = Cookie {
        name: name.to_string(),
        value: value.trim().to_string(),
        domain: host.map(str::to_string),
        tailmatch: false,
        // The default path (section 5.1.4) kept as curl keeps it: up to and including the last
        // `/` of the request path.
        path: match path.rfind('/') {
            Some(i) if i > 0 => path[..=i].to_string(),
            _ => "/".to_string(),
        },
        secure: false,
        http_only: false,
        expires: 0,
        created: 0,
    };
    let mut max_age: Option<i64> = None;
    let mut expires: Option<i64> = None;
    for attr in parts {
        let (key, val) = match attr.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (attr.trim(), ""),
        };
        match key.to_ascii_lowercase().as_str() {
            "path" if !val.is_empty() => cookie.path = val.to_string(),
            "domain" if !val.is_empty() => {
                let d = val.trim_start_matches('.').to_ascii_lowercase();
                match host {
                    // An IP address has no subdomains: the cookie stays with its host.
                    Some(h) if is_ip(h) => {
                        if d != h {
                            return None;
                        }
                    }
                    Some(h) => {
                        let inside =
                            h == d || (h.ends_with(&d) && h[..h.len() - d.len()].ends_with('.'));
                        if !inside {
                            return None;
                        }
                        cookie.domain = Some(d);
                        cookie.tailmatch = true;
                    }
                    None => {
                        cookie.domain = Some(d);
                        cookie.tailmatch = true;
                    }
                }
            }
            "secure" => {
                if !secure_context {
                    return None;
                }
                cookie.secure = true;
            }
            "httponly" => cookie.http_only = true,
            "max-age" => max_age = val.parse::<i64>().ok(),
            "expires" => expires = parse_date(val),
            _ => {}
        }
    }
    // Max-Age wins over Expires (section 5.3 step 3); 0 or less ends the cookie now.
    cookie.expires = match (max_age, expires) {
        (Some(age), _) if age <= 0 => 1,
        (Some(age), _) => now().saturating_add(age),
        (None, Some(at)) => at.max(1),
        (None, None) => 0,
    };
    Some(cookie)
}

/// The cookie-date algorithm of RFC 6265 section 5.1.1: finds a time, a day, a month and a
/// year among the tokens, in whichever of the date formats servers write them.
fn parse_date(text: &str) -> Option<i64> {
    let mut time = None;
    let mut day = None;
    let mut month = None;
    let mut year = None;
    let delimiter = |c: char| {
        c == '\t'
            || (' '..='/').contains(&c)
            || (';'..='@').contains(&c)
            || ('['..='`').contains(&c)
            || ('{'..='~').contains(&c)
    };
    for token in text.split(delimiter).filter(|t| !t.is_empty()) {
        if time.is_none() {
            let hms: Vec<&str> = token.split(':').collect();
            if hms.len() == 3
                && hms
                    .iter()
                    .all(|p| !p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit()))
            {
                let v: Vec<i64> = hms.iter().map(|p| p.parse().unwrap_or(0)).collect();
                time = Some((v[0], v[1], v[2]));
                continue;
            }
        }
        let digits = token.bytes().take_while(u8::is_ascii_digit).count();
        if day.is_none() && (1..=2).contains(&digits) {
            day = token[..digits].parse::<i64>().ok();
            continue;
        }
        if month.is_none() && token.len() >= 3 {
            let m = token[..3].to_ascii_lowercase();
            let months = [
                "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
            ];
            if let Some(i) = months.iter().position(|x| *x == m) {
                month = Some(i as i64 + 1);
                continue;
            }
        }
        if year.is_none() && (2..=4).contains(&digits) {
            let mut y = token[..digits].parse::<i64>().ok()?;
            if (70..=99).contains(&y) {
                y += 1900;
            } else if (0..=69).contains(&y) {
                y += 2000;
            }
            year = Some(y);
        }
    }
    let (h, mi, s) = time?;
    let (d, m, y) = (day?, month?, year?);
    if !(1..=31).contains(&d) || y < 1601 || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    // Days from the civil date (proleptic Gregorian), then seconds.
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_the_formats_servers_write() {
        // 2037-10-21T07:28:00Z
        for text in [
            "Wed, 21 Oct 2037 07:28:00 GMT",
            "Wednesday, 21-Oct-37 07:28:00 GMT",
            "Wed Oct 21 07:28:00 2037",
            "Wed, 21-Oct-2037 07:28:00 GMT",
        ] {
            assert_eq!(parse_date(text), Some(2_139_722_880), "{text}");
        }
        assert_eq!(parse_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_date("not a date"), None);
    }

    #[test]
    fn default_path_domain_and_secure() {
        let mut jar = Jar::default();
        jar.set("a=1", "example.com", b"/dir/sub/page", false);
        jar.set(
            "b=2; Domain=.Example.com; Path=/",
            "www.example.com",
            b"/",
            false,
        );
        jar.set("c=3; Domain=other.com", "example.com", b"/", false);
        jar.set("d=4; Secure", "example.com", b"/", false);
        jar.set("e=5; Secure; HttpOnly", "example.com", b"/", true);
        let text = jar.to_text();
        let lines: Vec<&str> = text.lines().skip(4).collect();
        assert_eq!(
            lines,
            [
                "#HttpOnly_example.com\tFALSE\t/\tTRUE\t0\te\t5",
                ".example.com\tTRUE\t/\tFALSE\t0\tb\t2",
                "example.com\tFALSE\t/dir/sub/\tFALSE\t0\ta\t1",
            ]
        );
        assert_eq!(
            jar.header("example.com", b"/dir/sub/x", true),
            "a=1; e=5; b=2"
        );
        assert_eq!(jar.header("example.com", b"/dir/sub/x", false), "a=1; b=2");
        assert_eq!(jar.header("x.example.com", b"/", true), "b=2");
        assert_eq!(jar.header("badexample.com", b"/", true), "");
    }

    #[test]
    fn updates_keep_their_place_and_expired_cookies_go() {
        let mut jar = Jar::default();
        jar.set("a=1", "h", b"/", false);
        jar.set("b=2", "h", b"/", false);
        jar.set("a=9", "h", b"/", false);
        assert_eq!(jar.header("h", b"/", false), "b=2; a=9");
        jar.set("b=; Max-Age=0", "h", b"/", false);
        jar.set(
            "a=; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            "h",
            b"/",
            false,
        );
        assert_eq!(jar.header("h", b"/", false), "");
    }

    #[test]
    fn a_written_jar_reads_back() {
        let mut jar = Jar::default();
        jar.set("a=1; HttpOnly; Max-Age=100", "example.com", b"/x/y", false);
        jar.set("b=2; Domain=example.com", "example.com", b"/", false);
        let mut again = Jar::default();
        again.load(&jar.to_text());
        assert_eq!(again.header("example.com", b"/x/z", false), "a=1; b=2");
        let mut headers = Jar::default();
        headers.load("Set-Cookie: s=1; Path=/\nset-cookie: t=2\n");
        assert_eq!(headers.header("anything.test", b"/", false), "t=2; s=1");
    }
}
