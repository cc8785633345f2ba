//! A call's recording: a stereo 16-bit 8 kHz WAV, the caller on the left
//! channel and the other parties on the right (the mixer decides which),
//! one frame per mixing tick so both channels stay aligned in time
//! whatever each side sends.

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
/// alone (mode 0600, directories 0700), whatever the umask; with a
/// configured group, that group may read them too (0640).
const RECORDING_MODE: u32 = 0o600;
const RECORDING_GROUP_MODE: u32 = 0o640;
const RECORDING_DIR_MODE: u32 = 0o700;

fn create_private(path: &Path, group: Option<u32>) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    // Created 0600 whatever the group: it is widened only once the chown
    // took, so a failed chown never leaves another group reading.
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, RECORDING_MODE);
    let file = options.open(path)?;
    if let Some(gid) = group {
        give_to_group(&file, gid, path);
    }
    Ok(file)
}

/// Hands the file to `gid` and opens it to that group's reading; a
/// failure is logged, and the recording goes on private.
fn give_to_group(file: &File, gid: u32, path: &Path) {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: fchown on a descriptor we own; uid -1 leaves the owner as is.
    let rc = unsafe { libc::fchown(file.as_raw_fd(), libc::uid_t::MAX, gid) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        tracing::warn!(%err, gid, path = %path.display(), "recording kept private: cannot give it to its group");
        return;
    }
    let mode = std::fs::Permissions::from_mode(RECORDING_GROUP_MODE);
    if let Err(err) = file.set_permissions(mode) {
        tracing::warn!(%err, path = %path.display(), "recording kept private: cannot set mode 0640");
    }
}

/// The id of the group named `name`, if the system has one.
pub fn group_id(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: zeroed is a valid `group` (pointers null, ids 0), filled by
    // getgrnam_r before we read it.
    let mut group: libc::group = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buf` outlives it;
    // the result points into `group` or is null.
    let rc = unsafe {
        libc::getgrnam_r(
            name.as_ptr(),
            &raw mut group,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &raw mut found,
        )
    };
    (rc == 0 && !found.is_null()).then_some(group.gr_gid)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, RECORDING_DIR_MODE);
    builder.create(dir)
}

pub struct Recorder {
    path: PathBuf,
    writer: hound::WavWriter<BufWriter<File>>,
    frames: u64,
}

impl Recorder {
    /// Creates the WAV at `path` (and its directories); with `group`,
    /// the file goes to that group, mode 0640.
    pub fn create(path: &Path, group: Option<u32>) -> Result<Recorder, RecordError> {
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
            let file = BufWriter::with_capacity(WRITE_BUFFER_BYTES, create_private(path, group)?);
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
        let mut r = Recorder::create(&path, None).unwrap();
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
        Recorder::create(&path, None).unwrap().finish().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.join("new")), 0o700);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn with_a_group_recordings_are_that_groups_to_read() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = std::env::temp_dir().join(format!("switchyard-rec-group-{}", std::process::id()));
        let path = dir.join("call.wav");
        // SAFETY: getgid cannot fail.
        let gid = unsafe { libc::getgid() };
        Recorder::create(&path, Some(gid))
            .unwrap()
            .finish()
            .unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        assert_eq!(meta.gid(), gid);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_group_that_cannot_be_given_leaves_the_recording_private() {
        use std::os::unix::fs::PermissionsExt;
        // SAFETY: getuid cannot fail.
        if unsafe { libc::getuid() } == 0 {
            return; // root may give a file to any group
        }
        let dir =
            std::env::temp_dir().join(format!("switchyard-rec-nogroup-{}", std::process::id()));
        let path = dir.join("call.wav");
        // A group this user is surely not in (and not its primary one).
        let foreign = (0..60_000u32)
            .rev()
            .find(|&g| g != unsafe { libc::getgid() } && !in_groups(g))
            .unwrap();
        Recorder::create(&path, Some(foreign))
            .unwrap()
            .finish()
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn in_groups(gid: u32) -> bool {
        let mut groups = [0 as libc::gid_t; 256];
        // SAFETY: the buffer holds 256 entries, as told.
        let n = unsafe { libc::getgroups(256, groups.as_mut_ptr()) };
        groups[..usize::try_from(n).unwrap_or(0)].contains(&gid)
    }

    #[test]
    fn groups_are_found_by_name() {
        // SAFETY: getgid cannot fail.
        let gid = unsafe { libc::getgid() };
        let name = std::fs::read_to_string("/etc/group")
            .unwrap()
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.get(2) == Some(&gid.to_string().as_str())).then(|| f[0].to_owned())
            });
        if let Some(name) = name {
            assert_eq!(group_id(&name), Some(gid));
        }
        assert_eq!(group_id("no-such-group-switchyard"), None);
        assert_eq!(group_id("bad\0name"), None);
    }

    #[test]
    fn an_unwritable_path_is_an_error_naming_it() {
        let err = match Recorder::create(Path::new("/proc/switchyard/no/call.wav"), None) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("created a file under /proc"),
        };
        assert!(err.contains("/proc/switchyard/no/call.wav"), "{err}");
    }
}
