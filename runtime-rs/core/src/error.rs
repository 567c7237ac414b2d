use std::fmt;
use std::path::Path;

/// A real failure (as opposed to a declined input): I/O on a named file.
#[derive(Debug)]
pub struct Error {
    pub path: String,
    pub action: &'static str,
    pub source: std::io::Error,
}

impl Error {
    pub fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.display().to_string();
        move |source| Error {
            path,
            action,
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot {} '{}': {}", self.action, self.path, self.source)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

pub type Result<T> = std::result::Result<T, Error>;
