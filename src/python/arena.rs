//! Where Python's small objects live from the interpreter's start until the app is imported.
//!
//! CPython takes every object of 512 bytes or less from arenas of 1 MiB that it maps from the
//! system one at a time ("Customize pymalloc Arena Allocator" in the Python/C API reference;
//! `mmap` and `munmap` on Linux), and the kernel supplies each 4 KiB page of a fresh arena on its
//! first touch, one page fault at a time. An import fills arenas page after page: importing a
//! Flask app touches some 3,000 pages of them, and where a page fault is expensive (a virtual
//! machine whose page tables the hypervisor keeps) those faults took up to 30 ms of kernel time
//! in a Lambda cold start of 150 to 200 ms. Until the app is imported, rwsgi maps arenas with
//! `MAP_POPULATE`, so that the kernel supplies all of an arena's pages in the one `mmap` call,
//! with no fault to take. After the import, arenas are mapped exactly as CPython maps them: what
//! a request costs, and the memory a request leaves behind, stay as they were. The price is the
//! unused part of the last arena the import was filling, at most 1 MiB of memory that is there
//! from the start.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::ffi;

/// Whether new arenas are mapped with all their pages.
static POPULATE: AtomicBool = AtomicBool::new(false);

/// Takes over Python's arena allocator, populating arenas until [`populate`] says otherwise.
///
/// # Safety
/// Call before the interpreter is initialized: an arena CPython mapped itself must never reach
/// this allocator's `free`. (On Linux the two are the same calls, but that is CPython's choice
/// to change, not ours to rely on.)
#[cfg(target_os = "linux")]
pub(super) unsafe fn install() {
    POPULATE.store(true, Ordering::Relaxed);
    let mut allocator = ffi::PyObjectArenaAllocator {
        ctx: std::ptr::null_mut(),
        alloc: Some(alloc),
        free: Some(free),
    };
    // SAFETY: CPython copies the struct; the functions are 'static.
    unsafe { ffi::PyObject_SetArenaAllocator(&mut allocator) };
}

#[cfg(not(target_os = "linux"))]
pub(super) unsafe fn install() {}

/// Maps arenas with all their pages (`true`, while the app is imported) or as CPython does.
pub(super) fn populate(on: bool) {
    POPULATE.store(on, Ordering::Relaxed);
}

#[cfg(target_os = "linux")]
extern "C" fn alloc(_ctx: *mut c_void, size: libc::size_t) -> *mut c_void {
    let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    if POPULATE.load(Ordering::Relaxed) {
        // Best effort by the kernel's definition: without the memory to populate, the mapping is
        // still made and its pages come on first touch, as without the flag.
        flags |= libc::MAP_POPULATE;
    }
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            -1,
            0,
        )
    };
    // CPython's contract for an arena allocator: NULL when there is no memory.
    if ptr == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        ptr
    }
}

#[cfg(target_os = "linux")]
extern "C" fn free(_ctx: *mut c_void, ptr: *mut c_void, size: libc::size_t) {
    // SAFETY: CPython frees only arenas this allocator mapped (it was installed before the
    // first), with the size they were mapped with.
    unsafe { libc::munmap(ptr, size) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn an_arena_is_usable_memory_either_way() {
        for on in [true, false] {
            populate(on);
            let size = 1 << 20;
            let ptr = alloc(std::ptr::null_mut(), size);
            assert!(!ptr.is_null());
            // SAFETY: the mapping is `size` bytes, readable and writable.
            let bytes = unsafe { std::slice::from_raw_parts_mut(ptr.cast::<u8>(), size) };
            assert!(bytes.iter().all(|&b| b == 0));
            bytes[size - 1] = 7;
            free(std::ptr::null_mut(), ptr, size);
        }
    }
}
