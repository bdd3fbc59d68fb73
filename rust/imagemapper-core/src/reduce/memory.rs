//! Large output planes on transparent huge pages.
//!
//! An output plane is written once over its whole length right after it is
//! allocated. With 4 KiB pages every page faults on that first write (in a
//! virtual machine each fault is expensive); numpy asks the kernel for huge
//! pages for its large arrays (`madvise(MADV_HUGEPAGE)`), so the planes a
//! numpy loop allocates fault 512 times less often than ours did. This asks
//! the same for ours. The advice changes no byte of memory: it is a hint,
//! and a kernel that refuses it (or another OS) leaves everything as it was.

/// Smallest buffer worth advising (numpy's threshold: 4 MiB).
const MIN_BYTES: usize = 4 << 20;

/// Ask for huge pages on the whole 2 MiB-aligned part of `v`'s spare
/// capacity (before anything is written to it). Returns whether the kernel
/// accepted the advice (false when the buffer is small or not on Linux).
pub(crate) fn advise_huge_pages<A>(v: &mut Vec<A>) -> bool {
    let bytes = v.capacity().saturating_mul(std::mem::size_of::<A>());
    if bytes < MIN_BYTES {
        return false;
    }
    advise(v.as_mut_ptr().cast::<u8>(), bytes)
}

#[cfg(target_os = "linux")]
fn advise(start: *mut u8, bytes: usize) -> bool {
    const HUGE: usize = 2 << 20;
    const MADV_HUGEPAGE: i32 = 14;
    extern "C" {
        fn madvise(addr: *mut core::ffi::c_void, len: usize, advice: i32) -> i32;
    }
    let addr = start as usize;
    let first = addr.next_multiple_of(HUGE);
    let end = addr + bytes;
    if first >= end || end - first < HUGE {
        return false;
    }
    let len = (end - first) / HUGE * HUGE;
    // SAFETY: `[first, first + len)` lies inside the allocation of `v`
    // (first >= addr, first + len <= addr + bytes = the end of its
    // capacity), which this process owns and nobody else refers to while
    // `v` is borrowed mutably; `first` is page-aligned as madvise requires.
    // MADV_HUGEPAGE only changes how the kernel backs the range (it never
    // changes, frees or unmaps memory), so no Rust reference or value is
    // affected whatever the call returns.
    unsafe { madvise(first as *mut core::ffi::c_void, len, MADV_HUGEPAGE) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn advise(_start: *mut u8, _bytes: usize) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advised_buffers_keep_their_values_and_small_ones_are_left_alone() {
        let mut small: Vec<f32> = Vec::with_capacity(1000);
        assert!(!advise_huge_pages(&mut small));
        let n = 3 << 20; // 12 MiB of f32
        let mut v: Vec<f32> = Vec::with_capacity(n);
        let accepted = advise_huge_pages(&mut v);
        // On Linux the kernel accepts the advice unless THP is compiled out.
        if cfg!(target_os = "linux")
            && std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").is_ok()
        {
            assert!(accepted);
        }
        v.resize(n, -0.0);
        assert!(v.iter().all(|x| x.to_bits() == (-0.0f32).to_bits()));
        v[n - 1] = 7.0;
        assert_eq!(v[n - 1], 7.0);
    }
}
