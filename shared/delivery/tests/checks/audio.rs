use crate::support::{self, chapter, mp3, rms_peak_db};
use crate::{failed, measured, result, verdict};
use connector_core::delivery::{
    AudioMeasurements, AudioSpec, Check, DeliverySpec, FileMeasurements, Measured, Purpose, Range,
};
use delivery::FileKind;
use mp3lame_encoder::Bitrate;

const RATE: u32 = 44_100;
/// A sine of this amplitude has an RMS of -19 dBFS (a file with room tone reads a little lower).
const SPEECH: f64 = 0.158_489_319;

fn audio(m: &FileMeasurements) -> &AudioMeasurements {
    match &m.detail {
        Measured::Audio(a) => a,
        other => panic!("{other:?}"),
    }
}

/// ACX, with a short retail sample so the tests stay quick (the spec is the config's to set).
fn spec() -> DeliverySpec {
    DeliverySpec {
        audio: Some(AudioSpec { retail_sample_s: Range { min: 3.0, max: 10.0 }, ..AudioSpec::default() }),
        ..DeliverySpec::default()
    }
}

fn sample_file() -> FileMeasurements {
    let pcm = chapter(RATE, 0.6, 4.0, 1.0, SPEECH, -65.0);
    let mut m = measured(FileKind::Audio, "sample.mp3", &mp3(&pcm, RATE, 1, Bitrate::Kbps192));
    m.purpose = Purpose::RetailSample;
    m
}

#[test]
fn a_chapter_at_acx_levels_passes_and_its_figures_match_the_samples() {
    let pcm = chapter(RATE, 0.7, 6.0, 2.0, SPEECH, -65.0);
    let (rms, peak) = rms_peak_db(&pcm);
    let bytes = mp3(&pcm, RATE, 1, Bitrate::Kbps192);
    let m = measured(FileKind::Audio, "ch01.mp3", &bytes);
    assert_eq!(m.problem, None);
    let a = audio(&m);
    assert_eq!(a.format.as_deref(), Some("mp3"));
    assert_eq!(
        (a.bitrates_kbps.as_slice(), a.sample_rates_hz.as_slice(), a.channels),
        (&[192][..], &[44_100][..], Some(1))
    );
    assert_eq!(a.corrupt_frames, 0);
    // Levels against the figures computed from the samples before encoding; at 192 kb/s the
    // codec's quantisation takes about 0.3 dB (exact figures: the 320 kb/s test below).
    let (m_rms, m_peak) = (a.rms_db.unwrap(), a.peak_db.unwrap());
    assert!((m_rms - rms).abs() < 0.5, "rms measured {m_rms:.2}, computed {rms:.2}");
    assert!((m_peak - peak).abs() < 0.5, "peak measured {m_peak:.2}, computed {peak:.2}");
    assert!(a.noise_floor_db.unwrap() < -60.0 && a.noise_floor_db.unwrap() > -75.0, "{a:?}");
    // Room tone as made (the encoder's 25 ms delay and padding included).
    assert!((a.head_room_tone_s.unwrap() - 0.7).abs() < 0.1, "{a:?}");
    assert!((a.tail_room_tone_s.unwrap() - 2.0).abs() < 0.1, "{a:?}");
    let made = pcm.len() as f64 / f64::from(RATE);
    assert!(a.duration_s >= made && a.duration_s < made + 0.2, "{} vs {made}", a.duration_s);

    let results = verdict(&spec(), vec![m, sample_file()]);
    assert!(failed(&results).is_empty(), "{results:#?}");
}

#[test]
fn rms_and_peak_equal_the_figures_computed_from_the_samples() {
    // At 320 kb/s MP3 keeps a tone's level: what differs is the decoded length (the encoder's
    // delay and padding are silence), which the expected RMS takes into account.
    for (amplitude, hz) in [(0.5, 440.0), (0.1, 1000.0), (0.9, 250.0)] {
        let pcm = support::tone(RATE, 3.0, amplitude, hz);
        let (rms, peak) = rms_peak_db(&pcm);
        let m = measured(FileKind::Audio, "t.mp3", &mp3(&pcm, RATE, 1, Bitrate::Kbps320));
        let a = audio(&m);
        let made = pcm.len() as f64 / f64::from(RATE);
        let expected_rms = rms + 10.0 * (made / a.duration_s).log10();
        let (m_rms, m_peak) = (a.rms_db.unwrap(), a.peak_db.unwrap());
        assert!(
            (m_rms - expected_rms).abs() < 0.05,
            "{amplitude}: rms measured {m_rms:.3}, expected {expected_rms:.3}"
        );
        assert!((m_peak - peak).abs() < 0.05, "{amplitude}: peak measured {m_peak:.3}, computed {peak:.3}");
    }
}

#[test]
fn too_loud_too_quiet_and_no_room_tone_fail_with_the_measured_levels() {
    let loud = chapter(RATE, 0.7, 4.0, 2.0, 0.9, -65.0);
    let m = measured(FileKind::Audio, "loud.mp3", &mp3(&loud, RATE, 1, Bitrate::Kbps192));
    let results = verdict(&spec(), vec![m, sample_file()]);
    assert_eq!(failed(&results), [Check::AudioRms, Check::AudioPeak]);
    let peak = result(&results, Check::AudioPeak);
    let measured_peak = match peak.measured {
        connector_core::delivery::Value::Number(x) => x,
        ref other => panic!("{other:?}"),
    };
    assert!(measured_peak > -1.5 && measured_peak < -0.5, "{}", peak.reason);
    assert_eq!(
        peak.reason,
        format!("loud.mp3: audio.peak is {measured_peak:.2} dB; the limit is at most -3 dB")
    );

    let quiet = chapter(RATE, 0.1, 4.0, 0.3, SPEECH / 10.0, -50.0);
    let m = measured(FileKind::Audio, "quiet.mp3", &mp3(&quiet, RATE, 1, Bitrate::Kbps192));
    let results = verdict(&spec(), vec![m, sample_file()]);
    assert_eq!(
        failed(&results),
        [Check::AudioRms, Check::AudioNoiseFloor, Check::AudioHeadRoomTone, Check::AudioTailRoomTone]
    );
}

#[test]
fn a_low_bit_rate_a_wrong_sample_rate_and_vbr_fail() {
    let pcm = chapter(RATE, 0.7, 3.0, 2.0, SPEECH, -65.0);
    let m = measured(FileKind::Audio, "ch.mp3", &mp3(&pcm, RATE, 1, Bitrate::Kbps128));
    assert_eq!(audio(&m).bitrates_kbps, [128]);
    assert_eq!(failed(&verdict(&spec(), vec![m, sample_file()])), [Check::AudioBitrate]);

    let pcm48 = chapter(48_000, 0.7, 3.0, 2.0, SPEECH, -65.0);
    let m = measured(FileKind::Audio, "ch.mp3", &mp3(&pcm48, 48_000, 1, Bitrate::Kbps192));
    assert_eq!(audio(&m).sample_rates_hz, [48_000]);
    assert_eq!(failed(&verdict(&spec(), vec![m, sample_file()])), [Check::AudioSampleRate]);

    // VBR: LAME picks each frame's bit rate.
    let mut b = mp3lame_encoder::Builder::new().unwrap();
    b.set_num_channels(1).unwrap();
    b.set_sample_rate(RATE).unwrap();
    b.set_vbr_mode(mp3lame_encoder::VbrMode::Mtrh).unwrap();
    b.set_vbr_quality(mp3lame_encoder::Quality::Best).unwrap();
    let mut enc = b.build().unwrap();
    let mut out = Vec::with_capacity(mp3lame_encoder::max_required_buffer_size(pcm.len()));
    enc.encode_to_vec(mp3lame_encoder::MonoPcm(&pcm[..]), &mut out).unwrap();
    out.reserve(7200);
    enc.flush_to_vec::<mp3lame_encoder::FlushGap>(&mut out).unwrap();
    let m = measured(FileKind::Audio, "vbr.mp3", &out);
    assert!(audio(&m).bitrates_kbps.len() > 1, "{:?}", audio(&m).bitrates_kbps);
    assert!(failed(&verdict(&spec(), vec![m, sample_file()])).contains(&Check::AudioConstantBitrate));
}

#[test]
fn mono_and_stereo_in_one_package_fail_and_a_missing_sample_fails() {
    let pcm = chapter(RATE, 0.7, 3.0, 2.0, SPEECH, -65.0);
    let mono = measured(FileKind::Audio, "ch01.mp3", &mp3(&pcm, RATE, 1, Bitrate::Kbps192));
    let stereo = measured(FileKind::Audio, "ch02.mp3", &mp3(&pcm, RATE, 2, Bitrate::Kbps192));
    assert_eq!(audio(&stereo).channels, Some(2));
    let results = verdict(&spec(), vec![mono, stereo]);
    assert_eq!(failed(&results), [Check::AudioChannels, Check::AudioRetailSample]);
    assert_eq!(
        result(&results, Check::AudioChannels).reason,
        "package: audio.channels is \"mono and stereo\"; the limit is one of mono, stereo (ch01.mp3 mono, ch02.mp3 stereo)"
    );
}

#[test]
fn a_retail_sample_of_the_wrong_length_fails() {
    let pcm = chapter(RATE, 0.7, 3.0, 2.0, SPEECH, -65.0);
    let chapter_file = measured(FileKind::Audio, "ch01.mp3", &mp3(&pcm, RATE, 1, Bitrate::Kbps192));
    let tight = DeliverySpec {
        audio: Some(AudioSpec { retail_sample_s: Range { min: 60.0, max: 300.0 }, ..AudioSpec::default() }),
        ..DeliverySpec::default()
    };
    let results = verdict(&tight, vec![chapter_file, sample_file()]);
    assert_eq!(failed(&results), [Check::AudioRetailSampleDuration]);
}

#[test]
fn a_corrupt_frame_is_found_with_its_offset() {
    let pcm = chapter(RATE, 0.7, 3.0, 2.0, SPEECH, -65.0);
    let mut bytes = mp3(&pcm, RATE, 1, Bitrate::Kbps192);
    // Overwrite the header of a frame in the middle: find a sync near the middle.
    let mid = bytes.len() / 2;
    let at = (mid..bytes.len() - 4).find(|&i| bytes[i] == 0xFF && bytes[i + 1] == 0xFB).unwrap();
    bytes[at..at + 40].fill(0x55);
    let m = measured(FileKind::Audio, "ch01.mp3", &bytes);
    let a = audio(&m);
    assert!(a.corrupt_frames >= 1, "{a:?}");
    assert_eq!(a.first_corrupt_byte, Some(at as u64));
    assert_eq!(
        m.problem,
        Some(format!("{} corrupt or missing frames, the first at byte {at}", a.corrupt_frames))
    );
    let results = verdict(&spec(), vec![m, sample_file()]);
    assert_eq!(failed(&results), [Check::AudioReadable, Check::AudioFramesIntact]);
    assert!(result(&results, Check::AudioFramesIntact).reason.contains(&format!("first at byte {at}")));
}

#[test]
fn a_truncated_mp3_and_an_id3_tag() {
    let pcm = chapter(RATE, 0.7, 3.0, 2.0, SPEECH, -65.0);
    let bytes = mp3(&pcm, RATE, 1, Bitrate::Kbps192);
    let m = measured(FileKind::Audio, "ch.mp3", &bytes[..bytes.len() - 100]);
    assert_eq!(audio(&m).corrupt_frames, 1, "{:?}", audio(&m));

    // An ID3v2 tag (syncsafe size 1000) in front: skipped, nothing corrupt.
    let mut tagged = b"ID3\x04\x00\x00\x00\x00\x07\x68".to_vec();
    tagged.extend(std::iter::repeat_n(0xFFu8, 1000));
    tagged.extend_from_slice(&bytes);
    let m = measured(FileKind::Audio, "ch.mp3", &tagged);
    assert_eq!((m.problem.clone(), audio(&m).corrupt_frames), (None, 0));
}

#[test]
fn something_that_is_not_an_mp3_fails_clearly() {
    let text = "this is a text file, not audio\n".repeat(500);
    let m = measured(FileKind::Audio, "ch.mp3", text.as_bytes());
    assert_eq!(m.problem.as_deref(), Some("not an MP3: no MPEG audio frame found"));
    let results = verdict(&spec(), vec![m]);
    assert!(failed(&results).starts_with(&[Check::AudioReadable, Check::AudioFormat]), "{results:#?}");
    let m = measured(FileKind::Audio, "ch.mp3", b"");
    assert!(m.problem.is_some());
    let _ = support::Noise::new(1);
}
