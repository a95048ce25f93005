//! One ManageSieve connection: the RFC 5804 §2 commands in the non-authenticated and
//! authenticated states, with STARTTLS (§2.2) starting the session over on the TLS stream.

use crate::command::{self, Arg, Input};
use crate::reply::{self, bye, no, no_code, ok, ok_code, quoted};
use crate::{
    LOGIN_FAILURE_DELAY, MAX_ERRORS, MAX_LOGIN_FAILURES, MAX_NAME_CHARS, MAX_SCRIPTS,
    ManageSieveContext, TLS_HANDSHAKE_TIMEOUT,
};
use base64::Engine;
use congvu_store::login::{LoginRefusal, LoginService, check_login};
use congvu_store::{Account, StoreError};
use congvu_wire::sieve::{self, Extension, MAX_SCRIPT_SIZE};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

struct State {
    account: Option<Account>,
    login_failures: u32,
    errors: u32,
}

pub(crate) async fn run_connection(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<ManageSieveContext>,
    shutdown: CancellationToken,
) {
    let mut state = State {
        account: None,
        login_failures: 0,
        errors: 0,
    };
    let plain = Session {
        ctx: &ctx,
        peer,
        tls: false,
        shutdown: &shutdown,
    };
    let stream = match plain.run(stream, &mut state).await {
        Ok(Some(stream)) => stream,
        Ok(None) => return,
        Err(error) => {
            tracing::debug!(%peer, %error, "managesieve connection ended");
            return;
        }
    };
    let Some(tls) = ctx.tls.clone() else {
        return;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let tls_stream =
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(s)) => s,
            Ok(Err(error)) => {
                tracing::debug!(%peer, %error, "managesieve TLS handshake failed");
                return;
            }
            Err(_) => return,
        };
    let secure = Session {
        ctx: &ctx,
        peer,
        tls: true,
        shutdown: &shutdown,
    };
    if let Err(error) = secure.run(tls_stream, &mut state).await {
        tracing::debug!(%peer, %error, "managesieve connection ended");
    }
}

struct Session<'a> {
    ctx: &'a ManageSieveContext,
    peer: SocketAddr,
    tls: bool,
    shutdown: &'a CancellationToken,
}

/// What a command asks the connection to do next.
enum Next {
    Continue,
    Close,
    StartTls,
}

impl Session<'_> {
    fn auth_allowed(&self) -> bool {
        self.tls
            || (self.ctx.config.allow_plaintext_auth_on_loopback && self.peer.ip().is_loopback())
    }

    fn capabilities(&self, state: &State) -> String {
        let sieve: Vec<&str> = Extension::ALL.iter().map(|e| e.name()).collect();
        let mut out = String::new();
        out.push_str("\"IMPLEMENTATION\" \"congvu\"\r\n");
        out.push_str(&format!("\"SIEVE\" {}\r\n", quoted(&sieve.join(" "))));
        // RFC 5804 §1.7: SASL mechanisms that send a password are not offered in clear text.
        let sasl = if self.auth_allowed() { "PLAIN" } else { "" };
        out.push_str(&format!("\"SASL\" \"{sasl}\"\r\n"));
        if !self.tls && self.ctx.tls.is_some() {
            out.push_str("\"STARTTLS\"\r\n");
        }
        // RFC 5804 §1.7: the redirect limit delivery enforces.
        out.push_str(&format!(
            "\"MAXREDIRECTS\" \"{}\"\r\n",
            congvu_pipeline::sieve::MAX_REDIRECTS
        ));
        if let Some(account) = &state.account {
            out.push_str(&format!("\"OWNER\" {}\r\n", quoted(&account.address)));
        }
        out.push_str("\"VERSION\" \"1.0\"\r\n");
        out
    }

    /// Runs until LOGOUT, end of input or STARTTLS (then the stream is handed back).
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
        state: &mut State,
    ) -> io::Result<Option<S>> {
        let mut reader = BufReader::new(stream);
        let idle = self.ctx.config.idle_timeout;
        // The greeting, and again after TLS (RFC 5804 §2.2): the capabilities, then OK.
        let hello = format!(
            "{}{}",
            self.capabilities(state),
            ok(&format!("{} ManageSieve ready", self.ctx.config.hostname))
        );
        reader.get_mut().write_all(hello.as_bytes()).await?;
        loop {
            reader.get_mut().flush().await?;
            let input = tokio::select! {
                _ = self.shutdown.cancelled() => {
                    let _ = reader.get_mut().write_all(bye("Server shutting down; try again shortly").as_bytes()).await;
                    return Ok(None);
                }
                input = command::read_command(&mut reader, idle) => input,
            };
            let (name, args) = match input {
                Input::Command(name, args) => (name, args),
                Input::Eof => return Ok(None),
                Input::Timeout => {
                    let _ = reader
                        .get_mut()
                        .write_all(bye("Idle for too long; closing").as_bytes())
                        .await;
                    return Ok(None);
                }
                Input::Abuse(why) => {
                    let _ = reader.get_mut().write_all(bye(&why).as_bytes()).await;
                    return Ok(None);
                }
                Input::Malformed(why) => {
                    if self.count_error(state) {
                        reader
                            .get_mut()
                            .write_all(bye("Too many errors").as_bytes())
                            .await?;
                        return Ok(None);
                    }
                    reader.get_mut().write_all(no(&why).as_bytes()).await?;
                    continue;
                }
                Input::TooLarge(size) => {
                    let text = format!(
                        "{size} octets is above the script size limit of {MAX_SCRIPT_SIZE}"
                    );
                    reader
                        .get_mut()
                        .write_all(no_code("QUOTA/MAXSIZE", &text).as_bytes())
                        .await?;
                    continue;
                }
            };
            match self.command(&name, &args, state, &mut reader).await? {
                Next::Continue => {}
                Next::Close => {
                    reader.get_mut().flush().await?;
                    return Ok(None);
                }
                Next::StartTls => {
                    reader.get_mut().flush().await?;
                    // RFC 5804 §2.2 (as RFC 3207 §4.2): nothing sent before the handshake may
                    // count as a command after it, so buffered input is dropped.
                    return Ok(Some(reader.into_inner()));
                }
            }
        }
    }

    /// True when the connection has made too many mistakes and must close.
    fn count_error(&self, state: &mut State) -> bool {
        state.errors += 1;
        state.errors > MAX_ERRORS
    }

    async fn command<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        name: &str,
        args: &[Arg],
        state: &mut State,
        reader: &mut BufReader<S>,
    ) -> io::Result<Next> {
        let out = reader.get_mut();
        let authenticated = state.account.is_some();
        let answer: Vec<u8> = match (name, authenticated) {
            ("CAPABILITY", _) => {
                let mut s = self.capabilities(state);
                s.push_str(&ok("Capability completed"));
                s.into_bytes()
            }
            ("LOGOUT", _) => {
                out.write_all(ok("Logout completed").as_bytes()).await?;
                return Ok(Next::Close);
            }
            ("NOOP", _) => match args.first().and_then(Arg::text) {
                Some(tag) => ok_code(&format!("TAG {}", quoted(tag)), "Done"),
                None => ok("Done"),
            }
            .into_bytes(),
            ("STARTTLS", false) if !self.tls && self.ctx.tls.is_some() => {
                out.write_all(ok("Begin TLS negotiation now").as_bytes())
                    .await?;
                return Ok(Next::StartTls);
            }
            ("STARTTLS", _) => {
                no("STARTTLS is not available here (already in TLS, or logged in)").into_bytes()
            }
            ("AUTHENTICATE", false) => {
                return self.authenticate(args, state, reader).await;
            }
            ("AUTHENTICATE", true) => no("Already logged in").into_bytes(),
            (_, false) if is_known(name) => {
                no("Log in first (AUTHENTICATE \"PLAIN\")").into_bytes()
            }
            (_, true) => {
                let Some(account) = state.account.clone() else {
                    return Ok(Next::Close);
                };
                match self.authenticated_command(name, args, &account).await {
                    Some(Ok(bytes)) => bytes,
                    Some(Err(AnswerError::Unauthenticate)) => {
                        state.account = None;
                        ok("Logged out; authenticate again").into_bytes()
                    }
                    Some(Err(AnswerError::Store(e))) => {
                        tracing::error!(error = %e, "managesieve store error");
                        no_code("TRYLATER", "Storage is unavailable; try again later").into_bytes()
                    }
                    None | Some(Err(AnswerError::Unknown)) => {
                        if self.count_error(state) {
                            out.write_all(bye("Too many errors").as_bytes()).await?;
                            return Ok(Next::Close);
                        }
                        no(&format!("Unknown command {name}")).into_bytes()
                    }
                }
            }
            (_, false) => {
                if self.count_error(state) {
                    out.write_all(bye("Too many errors").as_bytes()).await?;
                    return Ok(Next::Close);
                }
                no(&format!("Unknown command {name}")).into_bytes()
            }
        };
        reader.get_mut().write_all(&answer).await?;
        Ok(Next::Continue)
    }

    /// RFC 5804 §2.1 with SASL PLAIN (RFC 4616): the initial response on the command line,
    /// or an empty challenge and the response on the next line ("*" cancels).
    async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        args: &[Arg],
        state: &mut State,
        reader: &mut BufReader<S>,
    ) -> io::Result<Next> {
        if !self.auth_allowed() {
            reader
                .get_mut()
                .write_all(
                    no_code(
                        "ENCRYPT-NEEDED",
                        "Use STARTTLS before logging in: passwords are never sent in clear text",
                    )
                    .as_bytes(),
                )
                .await?;
            return Ok(Next::Continue);
        }
        let mechanism = args.first().and_then(Arg::text).unwrap_or_default();
        if !mechanism.eq_ignore_ascii_case("PLAIN") {
            reader
                .get_mut()
                .write_all(
                    no(&format!(
                        "SASL mechanism \"{mechanism}\" is not supported; use PLAIN"
                    ))
                    .as_bytes(),
                )
                .await?;
            return Ok(Next::Continue);
        }
        let response: Vec<u8> = match args.get(1) {
            Some(initial) => initial.bytes().to_vec(),
            None => {
                reader.get_mut().write_all(b"\"\"\r\n").await?;
                reader.get_mut().flush().await?;
                match command::read_response(reader, self.ctx.config.idle_timeout).await {
                    Input::Command(_, items) => match items.first() {
                        Some(item) => item.bytes().to_vec(),
                        None => Vec::new(),
                    },
                    Input::Eof | Input::Timeout | Input::Abuse(_) => return Ok(Next::Close),
                    Input::Malformed(why) => {
                        reader.get_mut().write_all(no(&why).as_bytes()).await?;
                        return Ok(Next::Continue);
                    }
                    Input::TooLarge(_) => {
                        reader
                            .get_mut()
                            .write_all(no("SASL response too large").as_bytes())
                            .await?;
                        return Ok(Next::Continue);
                    }
                }
            }
        };
        if response == b"*" {
            reader
                .get_mut()
                .write_all(no("Authentication cancelled").as_bytes())
                .await?;
            return Ok(Next::Continue);
        }
        let Some((login, password)) = decode_plain(&response) else {
            reader
                .get_mut()
                .write_all(
                    no("The PLAIN response is not valid base64 of authzid NUL login NUL password")
                        .as_bytes(),
                )
                .await?;
            return Ok(Next::Continue);
        };
        let config = &self.ctx.config;
        let result = check_login(
            self.ctx.store.as_ref(),
            &config.login_policy,
            LoginService::ManageSieve,
            &login,
            &password,
            None,
            &self.peer.ip().to_string(),
            (config.now)(),
        )
        .await;
        let refusal = match result {
            Ok(ok_login) => {
                state.account = Some(ok_login.account);
                reader
                    .get_mut()
                    .write_all(ok("Logged in").as_bytes())
                    .await?;
                return Ok(Next::Continue);
            }
            Err(refusal) => refusal,
        };
        let text = match &refusal {
            LoginRefusal::BadCredentials => {
                "Authentication failed: wrong login or password".to_string()
            }
            LoginRefusal::Disabled(state) => {
                format!("This mailbox is {state:?}: logins are refused; ask your unit IT contact")
            }
            LoginRefusal::Expired => {
                "Your password has expired; change it in webmail or ask your unit IT contact".into()
            }
            LoginRefusal::MustChange => {
                "Your password was reset and must be changed first, in webmail".into()
            }
            LoginRefusal::AppPasswordRequired | LoginRefusal::SecondFactorRequired => {
                "This mailbox uses two-step login: mail programs must use an app password".into()
            }
            LoginRefusal::Backoff { retry_after } => LoginRefusal::wait_sentence(*retry_after),
            other => {
                tracing::error!(refusal = ?other, "managesieve login check failed");
                reader
                    .get_mut()
                    .write_all(
                        no_code("TRYLATER", "Login is unavailable; try again later").as_bytes(),
                    )
                    .await?;
                return Ok(Next::Continue);
            }
        };
        state.login_failures += 1;
        tokio::time::sleep(LOGIN_FAILURE_DELAY).await;
        if state.login_failures >= MAX_LOGIN_FAILURES {
            reader
                .get_mut()
                .write_all(bye(&format!("{text}; too many failures")).as_bytes())
                .await?;
            return Ok(Next::Close);
        }
        reader.get_mut().write_all(no(&text).as_bytes()).await?;
        Ok(Next::Continue)
    }

    /// The commands of the authenticated state; `None` for an unknown command.
    async fn authenticated_command(
        &self,
        name: &str,
        args: &[Arg],
        account: &Account,
    ) -> Option<Result<Vec<u8>, AnswerError>> {
        let store = &self.ctx.store;
        let id = account.id;
        let result: Result<Vec<u8>, AnswerError> = async {
            Ok(match name {
                "LISTSCRIPTS" => {
                    let mut out = String::new();
                    for script in store.sieve_scripts(id).await? {
                        out.push_str(&quoted(&script.name));
                        if script.active {
                            out.push_str(" ACTIVE");
                        }
                        out.push_str("\r\n");
                    }
                    out.push_str(&ok("Listscripts completed"));
                    out.into_bytes()
                }
                "GETSCRIPT" => {
                    let Some(script_name) = args.first().and_then(Arg::text) else {
                        return Ok(no("GETSCRIPT needs a script name").into_bytes());
                    };
                    match store.sieve_script(id, script_name).await? {
                        Some(content) => {
                            let mut out = reply::literal(&content);
                            out.extend_from_slice(b"\r\n");
                            out.extend_from_slice(ok("Getscript completed").as_bytes());
                            out
                        }
                        None => no_code(
                            "NONEXISTENT",
                            &format!("There is no script named \"{script_name}\""),
                        )
                        .into_bytes(),
                    }
                }
                "PUTSCRIPT" => {
                    let (Some(script_name), Some(content)) = (args.first(), args.get(1)) else {
                        return Ok(no("PUTSCRIPT needs a script name and the script").into_bytes());
                    };
                    let script_name = match check_name(script_name) {
                        Ok(n) => n,
                        Err(why) => return Ok(no(&why).into_bytes()),
                    };
                    if let Some(refusal) = self.check_script(content.bytes()) {
                        return Ok(refusal.into_bytes());
                    }
                    let existing = store.sieve_scripts(id).await?;
                    if !existing.iter().any(|s| s.name == script_name)
                        && existing.len() >= MAX_SCRIPTS
                    {
                        return Ok(no_code(
                            "QUOTA/MAXSCRIPTS",
                            &format!(
                                "A mailbox may keep at most {MAX_SCRIPTS} scripts; delete one first"
                            ),
                        )
                        .into_bytes());
                    }
                    store
                        .put_sieve_script(
                            id,
                            &script_name,
                            content.bytes(),
                            (self.ctx.config.now)(),
                        )
                        .await?;
                    ok("Putscript completed").into_bytes()
                }
                "CHECKSCRIPT" => {
                    let Some(content) = args.first() else {
                        return Ok(no("CHECKSCRIPT needs the script").into_bytes());
                    };
                    match self.check_script(content.bytes()) {
                        Some(refusal) => refusal.into_bytes(),
                        None => ok("The script is valid").into_bytes(),
                    }
                }
                "HAVESPACE" => {
                    let (Some(script_name), Some(size)) = (
                        args.first().and_then(Arg::text),
                        args.get(1).and_then(Arg::text),
                    ) else {
                        return Ok(no("HAVESPACE needs a script name and a size").into_bytes());
                    };
                    let Ok(size) = size.parse::<u64>() else {
                        return Ok(no("HAVESPACE: the size must be a number").into_bytes());
                    };
                    let existing = store.sieve_scripts(id).await?;
                    if size > MAX_SCRIPT_SIZE as u64 {
                        no_code(
                            "QUOTA/MAXSIZE",
                            &format!("Scripts may be at most {MAX_SCRIPT_SIZE} octets"),
                        )
                        .into_bytes()
                    } else if !existing.iter().any(|s| s.name == script_name)
                        && existing.len() >= MAX_SCRIPTS
                    {
                        no_code(
                            "QUOTA/MAXSCRIPTS",
                            &format!("A mailbox may keep at most {MAX_SCRIPTS} scripts"),
                        )
                        .into_bytes()
                    } else {
                        ok("Putscript would succeed").into_bytes()
                    }
                }
                "SETACTIVE" => {
                    let Some(script_name) = args.first().and_then(Arg::text) else {
                        return Ok(
                            no("SETACTIVE needs a script name (\"\" to deactivate)").into_bytes()
                        );
                    };
                    let target = (!script_name.is_empty()).then_some(script_name);
                    match store.set_active_sieve_script(id, target).await {
                        Ok(()) => ok("Setactive completed").into_bytes(),
                        Err(StoreError::NotFound(_)) => no_code(
                            "NONEXISTENT",
                            &format!("There is no script named \"{script_name}\""),
                        )
                        .into_bytes(),
                        Err(e) => return Err(e.into()),
                    }
                }
                "DELETESCRIPT" => {
                    let Some(script_name) = args.first().and_then(Arg::text) else {
                        return Ok(no("DELETESCRIPT needs a script name").into_bytes());
                    };
                    match store.delete_sieve_script(id, script_name).await {
                        Ok(()) => ok("Deletescript completed").into_bytes(),
                        Err(StoreError::NotFound(_)) => no_code(
                            "NONEXISTENT",
                            &format!("There is no script named \"{script_name}\""),
                        )
                        .into_bytes(),
                        Err(StoreError::Invalid(_)) => no_code(
                            "ACTIVE",
                            "The active script cannot be deleted; deactivate it first",
                        )
                        .into_bytes(),
                        Err(e) => return Err(e.into()),
                    }
                }
                "RENAMESCRIPT" => {
                    let (Some(from), Some(to)) = (args.first().and_then(Arg::text), args.get(1))
                    else {
                        return Ok(no("RENAMESCRIPT needs the old and the new name").into_bytes());
                    };
                    let to = match check_name(to) {
                        Ok(n) => n,
                        Err(why) => return Ok(no(&why).into_bytes()),
                    };
                    match store.rename_sieve_script(id, from, &to).await {
                        Ok(()) => ok("Renamescript completed").into_bytes(),
                        Err(StoreError::NotFound(_)) => no_code(
                            "NONEXISTENT",
                            &format!("There is no script named \"{from}\""),
                        )
                        .into_bytes(),
                        Err(StoreError::AlreadyExists(_)) => no_code(
                            "ALREADYEXISTS",
                            &format!("A script named \"{to}\" already exists"),
                        )
                        .into_bytes(),
                        Err(e) => return Err(e.into()),
                    }
                }
                "UNAUTHENTICATE" => return Err(AnswerError::Unauthenticate),
                _ => return Err(AnswerError::Unknown),
            })
        }
        .await;
        match result {
            Err(AnswerError::Unknown) => None,
            other => Some(other),
        }
    }

    /// The NO line for a script that must not be stored, or `None` when it may be.
    fn check_script(&self, content: &[u8]) -> Option<String> {
        let script = match sieve::parse(content) {
            Ok(s) => s,
            Err(e) => {
                if content.len() > MAX_SCRIPT_SIZE {
                    return Some(no_code("QUOTA/MAXSIZE", &e.to_string()));
                }
                return Some(no(&e.to_string()));
            }
        };
        crate::policy::redirect_refusal(&script, &self.ctx.config.government_domains)
            .map(|why| no(&why))
    }
}

enum AnswerError {
    Store(StoreError),
    Unauthenticate,
    Unknown,
}

impl From<StoreError> for AnswerError {
    fn from(e: StoreError) -> Self {
        AnswerError::Store(e)
    }
}

fn is_known(name: &str) -> bool {
    matches!(
        name,
        "LISTSCRIPTS"
            | "GETSCRIPT"
            | "PUTSCRIPT"
            | "CHECKSCRIPT"
            | "HAVESPACE"
            | "SETACTIVE"
            | "DELETESCRIPT"
            | "RENAMESCRIPT"
            | "UNAUTHENTICATE"
    )
}

/// RFC 5804 §1.6: a script name is UTF-8 without control characters; we also bound length.
fn check_name(arg: &Arg) -> Result<String, String> {
    let Some(name) = arg.text() else {
        return Err("A script name must be UTF-8".into());
    };
    if name.is_empty() {
        return Err("A script name cannot be empty".into());
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
    {
        return Err("A script name cannot contain control characters".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!(
            "A script name may have at most {MAX_NAME_CHARS} characters"
        ));
    }
    Ok(name.to_string())
}

/// SASL PLAIN (RFC 4616 §2): base64 of `authzid NUL authcid NUL passwd`; an authzid other
/// than the login itself is refused (no proxy logins here).
fn decode_plain(response: &[u8]) -> Option<(String, String)> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(response)
        .ok()?;
    let mut parts = decoded.split(|&b| b == 0);
    let authzid = std::str::from_utf8(parts.next()?).ok()?;
    let login = std::str::from_utf8(parts.next()?).ok()?;
    let password = std::str::from_utf8(parts.next()?).ok()?;
    if parts.next().is_some() || login.is_empty() {
        return None;
    }
    if !authzid.is_empty() && !authzid.eq_ignore_ascii_case(login) {
        return None;
    }
    Some((login.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_responses() {
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(
            decode_plain(b64(b"\0an@x.gov.vn\0pw").as_bytes()),
            Some(("an@x.gov.vn".into(), "pw".into()))
        );
        assert!(decode_plain(b64(b"other\0an@x.gov.vn\0pw").as_bytes()).is_none());
        assert!(decode_plain(b"not base64!").is_none());
        assert!(decode_plain(b64(b"an\0pw").as_bytes()).is_none());
    }

    #[test]
    fn names() {
        assert!(check_name(&Arg::Str("Lọc thư".as_bytes().to_vec())).is_ok());
        assert!(check_name(&Arg::Str(b"a\x01".to_vec())).is_err());
        assert!(check_name(&Arg::Str(Vec::new())).is_err());
        assert!(check_name(&Arg::Str(vec![b'a'; MAX_NAME_CHARS + 1])).is_err());
    }
}
