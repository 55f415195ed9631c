import CSQLiteShims

/// How the process's memory is handed back to the system, set once at start-up.
public enum ProcessMemory {
    /// Buffers of 256 KiB and more (page indexes, compression blocks, read-ahead batches) get their own
    /// mapping and go back to the system when freed. glibc's default raises that threshold to the size
    /// of the largest block freed so far (up to 32 MiB): after an hourly freed a 16 MiB page index, every
    /// later 4 MiB buffer came from the heap and stayed resident, 21 MiB more at the peak of a 4 GiB
    /// hourly (119 MiB against 98, where the limit is 100). An mmap per large buffer costs microseconds.
    public static func returnLargeBlocksWhenFreed() {
        _ = caps_map_large_allocations(256 << 10)
    }
}
