//! Writing to stdout and stderr. `println!` panics when the reader has gone
//! (`smtp-harness scenarios | head -1`); here a closed pipe quietly ends
//! the output, as in ripgrep, and the command keeps its exit status. Any
//! other failure (stdout on a full disk) is an error.

use std::fmt;
use std::io::{self, Write};

/// `print!` that returns an error instead of panicking, and ignores a
/// closed pipe.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::out::stdout(format_args!($($arg)*)) };
}

/// `println!` that returns an error instead of panicking, and ignores a
/// closed pipe.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::cli::out::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` that never panics: a message stderr cannot take has nowhere
/// else to go.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::cli::out::stderr(format_args!("{}\n", format_args!($($arg)*))) };
}

pub fn stdout(args: fmt::Arguments) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot write to stdout: {e}"),
        )),
        Ok(()) => Ok(()),
    }
}

pub fn stderr(args: fmt::Arguments) {
    let _ = io::stderr().lock().write_fmt(args);
}
