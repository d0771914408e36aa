/* uring_compat.h: what liburing 2.3 lacks and the kernel (6.x) has.
 *
 * Owner: io/loop_uring.c (and any other ring user in io/). Thread: the
 * ring's owner. Everything here is used only behind a feature probe or
 * with a runtime -EINVAL fallback, so older kernels keep working. */
#ifndef RK_IO_URING_COMPAT_H
#define RK_IO_URING_COMPAT_H

#include <errno.h>
#include <liburing.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Kernel 6.4: a timeout that fires every interval until cancelled. */
#ifndef IORING_TIMEOUT_MULTISHOT
#define IORING_TIMEOUT_MULTISHOT (1U << 6)
#endif

/* liburing 2.3 declares io_uring_enable_rings() but its .so does not export
 * it (missing from the version map): call the register opcode directly.
 * Must run before io_uring_register_ring_fd (needs the real fd). */
static inline int rk_uring_enable_rings(struct io_uring *ring)
{
    long r = syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
    return r < 0 ? -errno : 0;
}

/* liburing >= 2.4 has io_uring_setup_buf_ring(); this is that, minus the
 * flags. Returns the ring or NULL with *err = -errno. The memory is page
 * aligned (mmap), as the kernel requires. */
static inline struct io_uring_buf_ring *rk_uring_setup_buf_ring(struct io_uring *ring,
                                                                unsigned entries, int bgid,
                                                                int *err)
{
    size_t sz = (size_t)entries * sizeof(struct io_uring_buf);
    void *p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (p == MAP_FAILED) {
        *err = -errno;
        return NULL;
    }
    struct io_uring_buf_reg reg = {0};
    reg.ring_addr = (unsigned long)(uintptr_t)p;
    reg.ring_entries = entries;
    reg.bgid = (__u16)bgid;
    int r = io_uring_register_buf_ring(ring, &reg, 0);
    if (r < 0) {
        munmap(p, sz);
        *err = r;
        return NULL;
    }
    io_uring_buf_ring_init((struct io_uring_buf_ring *)p);
    return (struct io_uring_buf_ring *)p;
}

/* Releases the memory only; the kernel side goes with the ring (unregister
 * would need the ring's single issuer thread). */
static inline void rk_uring_free_buf_ring_mem(struct io_uring_buf_ring *br, unsigned entries)
{
    if (br)
        munmap(br, (size_t)entries * sizeof(struct io_uring_buf));
}

#endif
