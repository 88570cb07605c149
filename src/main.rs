//! The `rwsgi` binary: everything happens in [`rwsgi::run`], which also turns an error into a
//! line on stderr and an exit status, once.

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;

use libmimalloc_sys as mi;
use mimalloc::MiMalloc;

#[global_allocator]
static ALLOCATOR: Allocator = Allocator;

/// rwsgi's own allocations (events, requests, replies, buffers): the small ones from mimalloc,
/// the large ones from the system's malloc. Python's objects keep CPython's allocators.
///
/// mimalloc because a warm Lambda invocation of a Flask app makes some 200 small allocations,
/// and glibc's malloc and free took about 10% of its instructions (503,000 instructions per
/// invocation with mimalloc, 544,000 without; callgrind). The system's malloc for blocks of
/// [`LARGE`] bytes or more because mimalloc grows a large buffer (a body read in, a reply
/// built) by copying it into a new block and keeps the old one a while, so the peak memory of a
/// 5 MiB upload was 9.1 times the body; glibc gives such a block its own mapping and grows it
/// in place (`mremap`), and the peak stays under 4 times the body.
struct Allocator;

/// The largest alignment every mimalloc block has whatever its size: its size classes are
/// multiples of the word. `mi_malloc` serves such a block on its shortest path, some 20
/// instructions fewer than `mi_malloc_aligned` (which `MiMalloc` calls for every block); a
/// warm invocation makes about 200 blocks.
const WORD: usize = std::mem::size_of::<usize>();

/// Where a block's allocator changes: the mmap threshold the Lambda runtime fixes for glibc
/// (src/lambda/runtime.rs), so that every block glibc gets there has a mapping of its own.
const LARGE: usize = 256 * 1024;

// SAFETY: each block is freed and resized by the allocator that made it. Which one made it
// follows from its size, and Rust passes the size a block was made (or last resized) with back
// to `dealloc` and `realloc` (GlobalAlloc's contract); a `realloc` across LARGE moves the block
// from one allocator to the other itself. Both allocators meet GlobalAlloc's contract.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout is valid and non-zero-sized (GlobalAlloc::alloc).
        unsafe {
            if layout.size() >= LARGE {
                System.alloc(layout)
            } else if layout.align() <= WORD {
                mi::mi_malloc(layout.size()).cast()
            } else {
                MiMalloc.alloc(layout)
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe {
            if layout.size() >= LARGE {
                System.alloc_zeroed(layout)
            } else if layout.align() <= WORD {
                mi::mi_zalloc(layout.size()).cast()
            } else {
                MiMalloc.alloc_zeroed(layout)
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was made by this allocator with `layout` (GlobalAlloc::dealloc), so by
        // the allocator its size selects.
        unsafe {
            if layout.size() >= LARGE {
                System.dealloc(ptr, layout)
            } else {
                MiMalloc.dealloc(ptr, layout)
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let large = layout.size() >= LARGE;
        if large == (new_size >= LARGE) {
            // SAFETY: `ptr` and `layout` are as in `dealloc`, and the block stays with the
            // allocator that made it, which `new_size` also selects.
            return unsafe {
                if large {
                    System.realloc(ptr, layout, new_size)
                } else if layout.align() <= WORD {
                    mi::mi_realloc(ptr.cast(), new_size).cast()
                } else {
                    MiMalloc.realloc(ptr, layout, new_size)
                }
            };
        }
        // SAFETY: `new_size` with the block's alignment is a valid layout (GlobalAlloc::realloc's
        // contract); the new block is at least as large as the bytes copied, does not overlap
        // the old one, and the old one is freed only once the copy is made.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = self.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

fn main() -> ExitCode {
    rwsgi::run(std::env::args_os().collect())
}
