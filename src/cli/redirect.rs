//! `-L`: a redirect's Location resolved and the plan changed as curl changes it.

use super::plan::Plan;
use super::*;

impl Plan {
    /// Turns the plan into the request a redirect asks for, with curl's rules: a POST becomes
    /// a GET without its body after 301 and 302 (unless --post301/--post302), every method but
    /// HEAD does after 303 (unless --post303 for a POST), and 307 and 308 keep the method and
    /// the body (RFC 9110 section 15.4).
    pub(super) fn redirect(
        &mut self,
        args: &CallArgs,
        status: u16,
        location: &str,
    ) -> std::result::Result<(), Exit> {
        let previous = self.url();
        let next = resolve(&previous, location)?;
        let mut target = Target::parse(&next).map_err(|e| {
            Exit::new(
                ExitStatus::MalformedUrl,
                format!("the redirect to {location:?}: {e}"),
            )
        })?;
        let post = self.method == "POST";
        let to_get = match status {
            301 => post && !args.post301,
            302 => post && !args.post302,
            303 => self.method != "GET" && self.method != "HEAD" && !(post && args.post303),
            _ => false,
        };
        if to_get {
            self.method = "GET".into();
            self.body = None;
            self.content_type = None;
        }
        // A path-only target stays one while the redirect stays on its host, so the request
        // keeps the host (and SERVER_NAME) it started with.
        let same = self.target.host.is_none() && {
            let probe = Plan {
                target: target.clone(),
                ..self.shallow()
            };
            probe.origin() == self.origin()
        };
        if same {
            target.host = None;
            target.port = None;
        }
        self.target = target;
        if self.auto_referer {
            self.defaults.retain(|(n, _)| n != "Referer");
            self.defaults.push(("Referer".into(), previous));
        }
        Ok(())
    }

    /// A copy for comparing origins (no body).
    fn shallow(&self) -> Plan {
        Plan {
            method: self.method.clone(),
            target: self.target.clone(),
            first_origin: self.first_origin.clone(),
            user_headers: self.user_headers.clone(),
            auth: None,
            defaults: Vec::new(),
            auto_referer: false,
            body: None,
            content_type: None,
            cookie_string: None,
            environ: Vec::new(),
            scheme: None,
            traits: self.traits,
            script_name: None,
        }
    }
}

/// A Location resolved against the URL it came from (RFC 3986 section 5).
pub(super) fn resolve(base: &str, location: &str) -> std::result::Result<String, Exit> {
    let bad = |e: String| {
        Exit::new(
            ExitStatus::MalformedUrl,
            format!("cannot follow the redirect to {location:?}: {e}"),
        )
    };
    let base = url::Url::parse(base).map_err(|e| bad(e.to_string()))?;
    let next = base.join(location).map_err(|e| bad(e.to_string()))?;
    if next.scheme() != "http" && next.scheme() != "https" {
        return Err(Exit::new(
            ExitStatus::Failure,
            format!("the redirect to {next} is not http or https (curl: protocol not supported)"),
        ));
    }
    let mut text = next.to_string();
    if let Some(i) = text.find('#') {
        text.truncate(i);
    }
    Ok(text)
}
