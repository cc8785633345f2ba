//! A call's recording: a stereo 16-bit 8 kHz WAV, the caller on the left
//! channel and the agent on the right, one frame per mixing tick so both
//! channels stay aligned in time whatever each side sends.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::media::mix::FRAME;
use crate::media::NARROWBAND_HZ;

/// Write buffer: a few seconds of audio between syscalls.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// Why a recording could not be made or finished.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot create recording {path}: {source}")]
    Create { path: PathBuf, source: hound::Error },
    #[error("cannot write recording {path}: {source}")]
    Write { path: PathBuf, source: hound::Error },
}

/// Recordings hold what customers said: readable by the switch's user
/// alone (mode 0600, directories 0700), whatever the umask.
const RECORDING_MODE: u32 = 0o600;
const RECORDING_DIR_MODE: u32 = 0o700;

fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, RECORDING_MODE);
    options.open(path)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, RECORDING_DIR_MODE);
    builder.create(dir)
}

pub struct Recorder {
    path: PathBuf,
    writer: hound::WavWriter<BufWriter<File>>,
    frames: u64,
}

impl Recorder {
    pub fn create(path: &Path) -> Result<Recorder, RecordError> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: NARROWBAND_HZ,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let create = || -> Result<_, hound::Error> {
            if let Some(dir) = path.parent() {
                create_private_dir(dir)?;
            }
            let file = BufWriter::with_capacity(WRITE_BUFFER_BYTES, create_private(path)?);
            hound::WavWriter::new(file, spec)
        };
        let writer = create().map_err(|source| RecordError::Create {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Recorder {
            path: path.to_path_buf(),
            writer,
            frames: 0,
        })
    }

    /// Appends one 20 ms frame of each side.
    pub fn write(
        &mut self,
        caller: &[i16; FRAME],
        agent: &[i16; FRAME],
    ) -> Result<(), RecordError> {
        let mut w = self.writer.get_i16_writer(2 * FRAME as u32);
        for (&l, &r) in caller.iter().zip(agent.iter()) {
            w.write_sample(l);
            w.write_sample(r);
        }
        w.flush().map_err(|source| RecordError::Write {
            path: self.path.clone(),
            source,
        })?;
        self.frames += 1;
        Ok(())
    }

    /// Audio written so far.
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.frames * 20)
    }

    /// Writes the final header sizes and closes the file.
    pub fn finish(self) -> Result<Duration, RecordError> {
        let duration = self.duration();
        let path = self.path;
        self.writer
            .finalize()
            .map_err(|source| RecordError::Write { path, source })?;
        Ok(duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_keeps_the_caller_left_and_the_agent_right() {
        let dir = std::env::temp_dir().join(format!("switchyard-rec-{}", std::process::id()));
        let path = dir.join("sub/call.wav");
        let mut r = Recorder::create(&path).unwrap();
        for i in 0..3 {
            r.write(&[100 + i; FRAME], &[-200 - i; FRAME]).unwrap();
        }
        assert_eq!(r.finish().unwrap(), Duration::from_millis(60));
        let mut reader = hound::WavReader::open(&path).unwrap();
        let spec = reader.spec();
        assert_eq!((spec.channels, spec.sample_rate), (2, 8000));
        let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(samples.len(), 3 * 2 * FRAME);
        assert_eq!(&samples[..2], &[100, -200]);
        assert_eq!(&samples[samples.len() - 2..], &[102, -202]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn recordings_are_readable_by_the_switch_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("switchyard-rec-mode-{}", std::process::id()));
        let path = dir.join("new/call.wav");
        Recorder::create(&path).unwrap().finish().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.join("new")), 0o700);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unwritable_path_is_an_error_naming_it() {
        let err = match Recorder::create(Path::new("/proc/switchyard/no/call.wav")) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("created a file under /proc"),
        };
        assert!(err.contains("/proc/switchyard/no/call.wav"), "{err}");
    }
}
