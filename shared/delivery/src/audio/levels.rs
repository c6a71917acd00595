//! The level meter: whole-file RMS and peak, the noise floor (the quietest half second) and
//! the room tone at the head and tail, from decoded samples in constant memory. It keeps
//! running sums and, per 50 ms block, only whether the block was sound; the noise floor's
//! sliding half second is a ring of ten block sums.

/// A block is 50 ms; the noise floor is the quietest run of this many blocks (500 ms).
const BLOCKS_PER_WINDOW: usize = 10;

/// Levels in dBFS: 20·log10 of the sample value, full scale 1.0, so a full-scale sine's RMS
/// reads -3.01 dB. Silence reads [`SILENCE_DB`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    pub duration_s: f64,
    pub rms_db: f64,
    pub peak_db: f64,
    pub noise_floor_db: f64,
    pub head_room_tone_s: f64,
    pub tail_room_tone_s: f64,
}

/// The floor of every dB figure (digital silence).
pub const SILENCE_DB: f64 = -200.0;

fn db_power(mean_square: f64) -> f64 {
    if mean_square > 0.0 { (10.0 * mean_square.log10()).max(SILENCE_DB) } else { SILENCE_DB }
}

pub struct LevelMeter {
    channels: usize,
    sample_rate: u32,
    block_frames: usize,
    threshold_power: f64,
    frames: u64,
    sum_squares: f64,
    peak: f64,
    // The block being filled.
    block_sum: f64,
    block_len: usize,
    blocks: u64,
    first_sound_block: Option<u64>,
    last_sound_block: Option<u64>,
    // The last ten blocks' sums and sample counts.
    ring: [(f64, usize); BLOCKS_PER_WINDOW],
    quietest_window: Option<f64>,
    /// Samples of a frame split across two pushes.
    partial: Vec<f32>,
}

impl LevelMeter {
    /// `threshold_db`: a 50 ms block with a higher RMS level is sound.
    pub fn new(sample_rate: u32, channels: usize, threshold_db: f64) -> Self {
        LevelMeter {
            channels: channels.max(1),
            sample_rate: sample_rate.max(1),
            block_frames: (sample_rate as usize / 20).max(1),
            threshold_power: 10f64.powf(threshold_db / 10.0),
            frames: 0,
            sum_squares: 0.0,
            peak: 0.0,
            block_sum: 0.0,
            block_len: 0,
            blocks: 0,
            first_sound_block: None,
            last_sound_block: None,
            ring: [(0.0, 0); BLOCKS_PER_WINDOW],
            quietest_window: None,
            partial: Vec::new(),
        }
    }

    /// Interleaved samples (`channels` per frame), any count.
    pub fn push_interleaved(&mut self, samples: &[f32]) {
        let mut samples = samples;
        if !self.partial.is_empty() {
            let need = self.channels - self.partial.len();
            let take = need.min(samples.len());
            self.partial.extend_from_slice(&samples[..take]);
            samples = &samples[take..];
            if self.partial.len() == self.channels {
                let frame = std::mem::take(&mut self.partial);
                self.push_frames(&frame);
            }
        }
        let whole = samples.len() / self.channels * self.channels;
        self.push_frames(&samples[..whole]);
        self.partial.extend_from_slice(&samples[whole..]);
    }

    fn push_frames(&mut self, mut samples: &[f32]) {
        while !samples.is_empty() {
            let room = (self.block_frames - self.block_len) * self.channels;
            let (now, rest) = samples.split_at(room.min(samples.len()));
            let mut sum = 0.0f64;
            for &s in now {
                let s = f64::from(s);
                sum += s * s;
                self.peak = self.peak.max(s.abs());
            }
            self.block_sum += sum;
            self.sum_squares += sum;
            let frames = now.len() / self.channels;
            self.block_len += frames;
            self.frames += frames as u64;
            if self.block_len == self.block_frames {
                self.close_block();
            }
            samples = rest;
        }
    }

    fn close_block(&mut self) {
        if self.block_len == 0 {
            return;
        }
        let n = self.block_len * self.channels;
        if self.block_sum / n as f64 > self.threshold_power {
            self.first_sound_block.get_or_insert(self.blocks);
            self.last_sound_block = Some(self.blocks);
        }
        self.ring[(self.blocks as usize) % BLOCKS_PER_WINDOW] = (self.block_sum, n);
        self.blocks += 1;
        if self.blocks >= BLOCKS_PER_WINDOW as u64 {
            let (sum, count) = self.ring.iter().fold((0.0, 0), |(s, c), (bs, bc)| (s + bs, c + bc));
            let power = sum / count.max(1) as f64;
            self.quietest_window = Some(self.quietest_window.map_or(power, |q: f64| q.min(power)));
        }
        self.block_sum = 0.0;
        self.block_len = 0;
    }

    pub fn finish(mut self) -> Levels {
        // A last, shorter block still counts for sound and silence, not for the window.
        let full_blocks = self.blocks;
        let tail_len = self.block_len;
        if tail_len > 0 {
            let n = tail_len * self.channels;
            if self.block_sum / n as f64 > self.threshold_power {
                self.first_sound_block.get_or_insert(self.blocks);
                self.last_sound_block = Some(self.blocks);
            }
        }
        let rate = f64::from(self.sample_rate);
        let duration_s = self.frames as f64 / rate;
        let block_s = self.block_frames as f64 / rate;
        let samples = (self.frames * self.channels as u64).max(1) as f64;
        let mean_square = self.sum_squares / samples;
        let head = self.first_sound_block.map_or(duration_s, |b| b as f64 * block_s).min(duration_s);
        let tail = match self.last_sound_block {
            Some(b) if b == full_blocks => 0.0,
            Some(b) => (duration_s - (b + 1) as f64 * block_s).max(0.0),
            None => duration_s,
        };
        Levels {
            duration_s,
            rms_db: db_power(mean_square),
            peak_db: if self.peak > 0.0 { (20.0 * self.peak.log10()).max(SILENCE_DB) } else { SILENCE_DB },
            // Shorter than half a second: the whole file is the quietest stretch there is.
            noise_floor_db: db_power(self.quietest_window.unwrap_or(mean_square)),
            head_room_tone_s: head,
            tail_room_tone_s: tail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, seconds: f64, amplitude: f32, hz: f32) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n).map(|i| amplitude * (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin()).collect()
    }

    #[test]
    fn a_full_scale_sine_reads_minus_three_db_rms_and_zero_peak() {
        let mut m = LevelMeter::new(44_100, 1, -40.0);
        m.push_interleaved(&sine(44_100, 2.0, 1.0, 441.0));
        let l = m.finish();
        assert!((l.rms_db + 3.0103).abs() < 0.01, "{l:?}");
        assert!(l.peak_db.abs() < 0.01, "{l:?}");
        assert!((l.duration_s - 2.0).abs() < 1e-9);
        assert_eq!(l.head_room_tone_s, 0.0);
        assert_eq!(l.tail_room_tone_s, 0.0);
    }

    #[test]
    fn room_tone_and_noise_floor_are_found_at_the_head_and_tail() {
        let rate = 44_100;
        let mut samples = vec![0.0005f32; (rate as f64 * 0.75) as usize]; // -66 dB of "room tone"
        samples.extend(sine(rate, 3.0, 0.1, 440.0));
        samples.extend(vec![-0.0005f32; (rate as f64 * 2.0) as usize]);
        // Pushed in odd pieces, as decoded frames arrive.
        let mut m = LevelMeter::new(rate, 1, -40.0);
        for piece in samples.chunks(1151) {
            m.push_interleaved(piece);
        }
        let l = m.finish();
        assert!((l.head_room_tone_s - 0.75).abs() <= 0.05, "{l:?}");
        assert!((l.tail_room_tone_s - 2.0).abs() <= 0.05, "{l:?}");
        assert!((l.noise_floor_db - 20.0 * 0.0005f64.log10()).abs() < 0.01, "{l:?}");
        assert!((l.peak_db - 20.0 * 0.1f64.log10()).abs() < 0.01, "{l:?}");
        let expected_ms = (0.0005f64.powi(2) * 2.75 + 0.005 * 3.0) / 5.75;
        assert!((l.rms_db - 10.0 * expected_ms.log10()).abs() < 0.02, "{l:?}");
    }

    #[test]
    fn stereo_frames_split_between_pushes_are_joined() {
        let mut whole = LevelMeter::new(48_000, 2, -40.0);
        let mut split = LevelMeter::new(48_000, 2, -40.0);
        let s: Vec<f32> = sine(48_000, 1.0, 0.3, 1000.0).iter().flat_map(|x| [*x, -*x * 0.5]).collect();
        whole.push_interleaved(&s);
        for piece in s.chunks(333) {
            split.push_interleaved(piece);
        }
        let (a, b) = (whole.finish(), split.finish());
        for (x, y) in [
            (a.rms_db, b.rms_db),
            (a.peak_db, b.peak_db),
            (a.noise_floor_db, b.noise_floor_db),
            (a.duration_s, b.duration_s),
        ] {
            assert!((x - y).abs() < 1e-9, "{a:?} {b:?}");
        }
    }

    #[test]
    fn silence_reads_the_floor() {
        let mut m = LevelMeter::new(44_100, 1, -40.0);
        m.push_interleaved(&[0.0; 44_100]);
        let l = m.finish();
        assert_eq!((l.rms_db, l.peak_db, l.noise_floor_db), (SILENCE_DB, SILENCE_DB, SILENCE_DB));
        assert_eq!((l.head_room_tone_s, l.tail_room_tone_s), (1.0, 1.0));
    }
}
