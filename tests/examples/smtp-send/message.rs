//! The message: read once from a file or standard input, then copied for each send.

use super::*;

use smtp_blocking::proto::body::CheckedText;

/// A file up to this size is read into memory once, so that `--count` copies cost no file
/// system calls; a larger one streams from the file for each copy. Standard input up to this
/// size is kept in memory; a larger one is spooled to a temporary file.
const IN_MEMORY_MAX: u64 = 1024 * 1024;

/// With several copies to send, a file up to this size is read into memory once (as
/// smtp-source holds its message): each copy then costs no file read. Peak memory stays under
/// 16 MiB.
const COPIES_IN_MEMORY_MAX: u64 = 10 * 1024 * 1024;

/// The message: a large file or spooled standard input (read from its start for each copy, never loaded
/// whole), or in memory: a small file, or small standard input.
pub(crate) enum Message {
    File(File),
    Spooled(Spool),
    Memory(CheckedText),
}

/// Standard input copied to a temporary file, as it cannot be rewound for `--count` copies.
///
/// The file is created new (never an existing path or link), readable by its owner only, in
/// `std::env::temp_dir()`. On Unix its name is removed at once (the open file lives on until
/// closed, even if the program is killed); elsewhere it is removed when the spool is dropped.
pub(crate) struct Spool {
    file: File,
    /// The name still to remove (not on Unix, where it is already gone).
    path: Option<std::path::PathBuf>,
}

impl Spool {
    /// A new, empty temporary file.
    fn create() -> io::Result<Self> {
        let dir = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut attempt = 0u32;
        loop {
            let name = format!("smtp-send-{}-{nanos}-{attempt}.spool", std::process::id());
            let path = dir.join(name);
            let mut options = std::fs::OpenOptions::new();
            options.read(true).write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(&path) {
                Ok(file) => {
                    #[cfg(unix)]
                    {
                        std::fs::remove_file(&path)?;
                        return Ok(Self { file, path: None });
                    }
                    #[cfg(not(unix))]
                    return Ok(Self {
                        file,
                        path: Some(path),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Message {
    /// The message and its shape.
    pub(crate) fn open(
        data: Option<&str>,
        copies: u64,
        stdin: &mut dyn Read,
    ) -> Result<(Self, MessageShape), String> {
        let mut buf = Vec::new();
        match data {
            Some(path) if path != "-" => {
                let mut file = File::open(path).map_err(|e| format!("--data {path:?}: {e}"))?;
                let in_memory = if copies > 1 {
                    COPIES_IN_MEMORY_MAX
                } else {
                    IN_MEMORY_MAX
                };
                // One byte more than the limit tells whether there is more: a small file is
                // read once, a large one measured in one pass and streamed for each copy.
                (&mut file)
                    .take(in_memory + 1)
                    .read_to_end(&mut buf)
                    .map_err(|e| format!("--data {path:?}: {e}"))?;
                if buf.len() as u64 > in_memory {
                    drop(buf);
                    let (_, shape) = file
                        .seek(SeekFrom::Start(0))
                        .and_then(|_| scan(&mut file))
                        .map_err(|e| format!("--data {path:?}: {e}"))?;
                    return Ok((Self::File(file), shape));
                }
            }
            _ => {
                // One byte more than the limit tells whether there is more.
                stdin
                    .take(IN_MEMORY_MAX + 1)
                    .read_to_end(&mut buf)
                    .map_err(|e| format!("reading standard input: {e}"))?;
                if buf.len() as u64 > IN_MEMORY_MAX {
                    let (spool, shape) =
                        spool(&buf, stdin).map_err(|e| format!("spooling standard input: {e}"))?;
                    return Ok((Self::Spooled(spool), shape));
                }
            }
        }
        let shape = MessageShape::of(&buf);
        // Checked once for what DATA's encoding changes: every copy is then written from
        // here as it is, between those places.
        Ok((Self::Memory(CheckedText::new(buf)), shape))
    }

    /// The whole message, when it is held in memory.
    pub(crate) fn in_memory(&self) -> Option<&CheckedText> {
        match self {
            Self::Memory(text) => Some(text),
            Self::File(_) | Self::Spooled(_) => None,
        }
    }

    /// One more copy to send: a reader of the whole message that shares no position with
    /// other readers (`pread`), so that copies may be read one after another on one
    /// connection or side by side on a pool's.
    pub(crate) fn reader(&self) -> Reader<'_> {
        match self {
            Self::File(file) | Self::Spooled(Spool { file, .. }) => Reader::At { file, pos: 0 },
            Self::Memory(text) => Reader::Memory(text.bytes()),
        }
    }
}

/// `head` and the rest of `stdin` in a new [`Spool`], measured on the way, in constant memory.
fn spool(head: &[u8], stdin: &mut dyn Read) -> io::Result<(Spool, MessageShape)> {
    let mut spool = Spool::create()?;
    let mut shape = MessageShape::new();
    let mut out = io::BufWriter::with_capacity(64 * 1024, &mut spool.file);
    shape.push(head);
    out.write_all(head)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let piece = buf.get(..n).unwrap_or_default();
        shape.push(piece);
        out.write_all(piece)?;
    }
    out.flush()?;
    drop(out);
    Ok((spool, shape))
}

/// The file's length and shape, in one streaming pass.
fn scan(file: &mut File) -> io::Result<(u64, MessageShape)> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0u64;
    let mut shape = MessageShape::new();
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok((len, shape)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        len += n as u64;
        shape.push(buf.get(..n).unwrap_or_default());
    }
}

/// One copy of the message, read at its own offset (`pread`): copies may interleave.
pub(crate) enum Reader<'a> {
    /// The file, from offset `pos`.
    At {
        file: &'a File,
        pos: u64,
    },
    Memory(&'a [u8]),
}

impl Read for Reader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::At { file, pos } => {
                let n = read_at(file, buf, *pos)?;
                *pos += n as u64;
                Ok(n)
            }
            Self::Memory(m) => m.read(buf),
        }
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, pos)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, pos)
}
