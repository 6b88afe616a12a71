//! Shared by the integration tests.

/// The committed captures' file names, sorted.
pub fn captures() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("captures")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.retain(|n| n.ends_with(".pcap") || n.ends_with(".pcapng") || n.ends_with(".gz"));
    v.sort();
    v
}
