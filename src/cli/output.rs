//! Where `rwsgi call` writes the response, and the decoders of `--compressed`.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// stdout, or the `-o` file. A regular file (or a new one) is written as a temporary file
/// beside it and renamed into place only when the transfer worked, so a failed request never
/// empties or creates it (curl -f leaves it as it was); anything else (`/dev/null`, a FIFO) is
/// written directly.
#[derive(Default)]
pub(super) enum Output {
    #[default]
    None,
    Stdout(File),
    File {
        path: PathBuf,
        temp: Option<Temp>,
    },
    Direct {
        path: PathBuf,
        file: Option<File>,
    },
}

impl Output {
    pub(super) fn stdout(file: File) -> Output {
        Output::Stdout(file)
    }

    pub(super) fn file(path: PathBuf) -> Output {
        match std::fs::metadata(&path) {
            Ok(m) if !m.is_file() => Output::Direct { path, file: None },
            _ => Output::File { path, temp: None },
        }
    }

    pub(super) fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Output::None => Err(io::Error::new(io::ErrorKind::BrokenPipe, "no output")),
            // Unbuffered: streamed responses show up as the app yields them.
            Output::Stdout(f) => f.write_all(bytes),
            Output::File { path, temp } => {
                if temp.is_none() {
                    *temp = Some(make_temp(path)?);
                }
                temp.as_mut().map_or(Ok(()), |t| t.write_all(bytes))
            }
            Output::Direct { path, file } => {
                if file.is_none() {
                    *file = Some(File::create(&*path).map_err(|e| {
                        io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                    })?);
                }
                file.as_mut().map_or(Ok(()), |f| f.write_all(bytes))
            }
        }
    }

    /// Ends the output: with `keep`, the file takes its place (an empty body still makes one,
    /// as curl -o does); without, a temporary file goes away and nothing is replaced.
    pub(super) fn finish(&mut self, keep: bool) -> io::Result<()> {
        match std::mem::take(self) {
            Output::None => Ok(()),
            Output::Stdout(mut f) => f.flush(),
            Output::File { path, temp } => {
                if !keep {
                    return Ok(());
                }
                let temp = match temp {
                    Some(t) => t,
                    None => make_temp(&path)?,
                };
                let target = std::fs::canonicalize(&path).unwrap_or(path);
                let in_place =
                    |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", target.display()));
                match temp {
                    Temp::Beside(temp) => {
                        temp.as_file().sync_all()?;
                        temp.persist(&target)
                            .map(drop)
                            .map_err(|e| in_place(e.error))
                    }
                    // The folder takes no new file, but the file itself may be written: it is
                    // overwritten only now that the whole body is here.
                    Temp::Elsewhere(mut temp) => {
                        use std::io::Seek as _;
                        temp.as_file_mut().seek(io::SeekFrom::Start(0))?;
                        let mut file = std::fs::OpenOptions::new()
                            .write(true)
                            .truncate(true)
                            .open(&target)
                            .map_err(in_place)?;
                        io::copy(temp.as_file_mut(), &mut file).map_err(in_place)?;
                        file.flush()
                    }
                }
            }
            Output::Direct { path, file } => match file {
                Some(mut f) => f.flush(),
                None if keep => File::create(&path).map(drop),
                None => Ok(()),
            },
        }
    }
}

/// Where the body waits until the transfer is over.
pub(super) enum Temp {
    /// In FILE's folder, renamed over it at the end.
    Beside(tempfile::NamedTempFile),
    /// In the system's temporary folder, when FILE's folder cannot take a new file but FILE
    /// exists: copied into FILE at the end.
    Elsewhere(tempfile::NamedTempFile),
}

impl Temp {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Temp::Beside(t) | Temp::Elsewhere(t) => t.write_all(bytes),
        }
    }
}

/// A temporary file in the folder of `path` (a rename across file systems would fail), with
/// the permissions the file has, or those a new file gets (0666 less the umask).
fn make_temp(path: &Path) -> io::Result<Temp> {
    use std::os::unix::fs::PermissionsExt as _;
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mode = std::fs::metadata(&target).map_or(0o666, |m| m.permissions().mode() & 0o7777);
    let name = target
        .file_name()
        .map(|n| format!(".{}.", n.to_string_lossy()))
        .unwrap_or_else(|| ".rwsgi-call.".into());
    let beside = tempfile::Builder::new()
        .prefix(&name)
        .suffix(".part")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(&dir);
    match beside {
        Ok(t) => Ok(Temp::Beside(t)),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied && target.is_file() => {
            tempfile::NamedTempFile::new().map(Temp::Elsewhere)
        }
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    }
}

/// One `Content-Encoding` being undone (`--compressed`).
pub(super) enum Decoder {
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    /// `deflate` is the zlib format (RFC 9110 section 8.4.1.2); some servers send raw deflate,
    /// which curl also takes: the first bytes decide.
    Deflate(Option<Vec<u8>>),
    Zlib(flate2::write::ZlibDecoder<Vec<u8>>),
    Raw(flate2::write::DeflateDecoder<Vec<u8>>),
    Brotli(Box<brotli::DecompressorWriter<Vec<u8>>>),
}

impl Decoder {
    /// The decoder for a Content-Encoding value; `Ok(None)` for `identity`.
    pub(super) fn new(coding: &str) -> Result<Option<Decoder>, String> {
        let codings: Vec<String> = coding
            .split(',')
            .map(|c| c.trim().to_ascii_lowercase())
            .filter(|c| !c.is_empty() && c != "identity")
            .collect();
        match codings.as_slice() {
            [] => Ok(None),
            [c] => match c.as_str() {
                "gzip" | "x-gzip" => Ok(Some(Decoder::Gzip(flate2::write::GzDecoder::new(
                    Vec::new(),
                )))),
                "deflate" => Ok(Some(Decoder::Deflate(Some(Vec::new())))),
                "br" => Ok(Some(Decoder::Brotli(Box::new(
                    brotli::DecompressorWriter::new(Vec::new(), 8192),
                )))),
                _ => Err(format!(
                    "Unrecognized content encoding type {c:?}: rwsgi-call understands deflate, gzip, br"
                )),
            },
            _ => Err(format!(
                "the body is encoded more than once ({coding}): rwsgi-call decodes one of deflate, gzip, br"
            )),
        }
    }

    /// Decodes a chunk; returns what is ready.
    pub(super) fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, String> {
        let bad = |e: io::Error| format!("Error while processing content unencoding: {e}");
        match self {
            Decoder::Deflate(pending) => {
                let mut held = pending.take().unwrap_or_default();
                held.extend_from_slice(chunk);
                if held.len() < 2 {
                    *pending = Some(held);
                    return Ok(Vec::new());
                }
                // A zlib header: CM 8 and a check value that makes the first two bytes a
                // multiple of 31 (RFC 1950 section 2.2).
                let zlib =
                    held[0] & 0x0f == 8 && (u16::from(held[0]) << 8 | u16::from(held[1])) % 31 == 0;
                *self = if zlib {
                    Decoder::Zlib(flate2::write::ZlibDecoder::new(Vec::new()))
                } else {
                    Decoder::Raw(flate2::write::DeflateDecoder::new(Vec::new()))
                };
                self.push(&held)
            }
            Decoder::Gzip(d) => {
                d.write_all(chunk).map_err(bad)?;
                Ok(std::mem::take(d.get_mut()))
            }
            Decoder::Zlib(d) => {
                d.write_all(chunk).map_err(bad)?;
                Ok(std::mem::take(d.get_mut()))
            }
            Decoder::Raw(d) => {
                d.write_all(chunk).map_err(bad)?;
                Ok(std::mem::take(d.get_mut()))
            }
            Decoder::Brotli(d) => {
                d.write_all(chunk).map_err(bad)?;
                Ok(std::mem::take(d.get_mut()))
            }
        }
    }

    /// The rest, once the body is over; an error when the body stopped short.
    pub(super) fn finish(self) -> Result<Vec<u8>, String> {
        let bad = |e: io::Error| format!("Error while processing content unencoding: {e}");
        let short =
            || "Error while processing content unencoding: the body ends too early".to_string();
        match self {
            Decoder::Deflate(pending) => match pending {
                Some(p) if !p.is_empty() => Err(short()),
                _ => Ok(Vec::new()),
            },
            Decoder::Gzip(d) => d.finish().map_err(bad),
            Decoder::Zlib(d) => d.finish().map_err(bad),
            Decoder::Raw(d) => d.finish().map_err(bad),
            Decoder::Brotli(d) => d.into_inner().map_err(|_| short()),
        }
    }
}
