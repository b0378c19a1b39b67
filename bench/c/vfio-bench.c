// The C reference for `npm run bench`: the same ioctls, on the same sizes, as the library
// does them, with nothing in between. It runs in the guest as a co-process of the Node
// driver (bench/guest.ts), on its own container and IOMMU group, and answers one line per
// command read from stdin, so the driver can interleave library and C rounds:
//
//   prepare map SIZE       mmap SIZE bytes (at least a page), touch and register them (untimed)
//   prepare register SIZE  mmap SIZE bytes, touch them (untimed)
//   prepare none           nothing to prepare (noop, window)
//   run noop N             N x VFIO_CHECK_EXTENSION(SPAPR_TCE_v2)
//   run map N              N x (MAP_DMA of the prepared block at IOVA 0 + UNMAP_DMA)
//   run mapn N             N x MAP_DMA of one 4K page at consecutive IOVAs (then untimed UNMAPs)
//   run mapscatter N       the same from scattered 4K pieces (page i*7 mod N): what QEMU does
//                          for a guest's H_PUT_TCE_INDIRECT of N scattered TCEs
//   run unmapn N           N x UNMAP_DMA of one 4K page (after untimed MAPs): a guest's clear
//   run mapwhole N         one MAP_DMA of N 4K pages (then an untimed UNMAP): the kernel's own
//                          cost of a run, the floor under any batch of N contiguous TCEs
//   run register N         N x (REGISTER_MEMORY + UNREGISTER_MEMORY of the prepared block)
//   run window N           N x (SPAPR_TCE_CREATE 64K pages x 4 GiB, 1 level + TCE_REMOVE)
//   release                undo prepare
//
// Every `run` answers "ns TOTAL" (CLOCK_MONOTONIC around the loop only); any failure
// answers "error WHAT ERRNO" and the program exits 1.
//
//   usage: vfio-bench GROUP
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int container = -1;
static void *block = NULL;
static uint64_t block_size = 0;   // what is mapped or registered
static uint64_t block_alloc = 0;  // what is mmap'd and registered: whole system pages
static int block_registered = 0;

static void die(const char *what) {
  printf("error %s %d\n", what, errno);
  fflush(stdout);
  exit(1);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int map_dma(uint64_t vaddr, uint64_t iova, uint64_t size) {
  struct vfio_iommu_type1_dma_map map;
  memset(&map, 0, sizeof map);
  map.argsz = sizeof map;
  map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
  map.vaddr = vaddr;
  map.iova = iova;
  map.size = size;
  return ioctl(container, VFIO_IOMMU_MAP_DMA, &map);
}

static int unmap_dma(uint64_t iova, uint64_t size) {
  struct vfio_iommu_type1_dma_unmap unmap;
  memset(&unmap, 0, sizeof unmap);
  unmap.argsz = sizeof unmap;
  unmap.iova = iova;
  unmap.size = size;
  return ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap);
}

static int register_like(unsigned long request, uint64_t vaddr, uint64_t size) {
  struct vfio_iommu_spapr_register_memory reg;
  memset(&reg, 0, sizeof reg);
  reg.argsz = sizeof reg;
  reg.vaddr = vaddr;
  reg.size = size;
  return ioctl(container, request, &reg);
}

static void prepare(const char *kind, uint64_t size) {
  if (strcmp(kind, "none") == 0) return;
  const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
  block_alloc = (size + page - 1) / page * page;
  block = mmap(NULL, block_alloc, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (block == MAP_FAILED) die("mmap");
  memset(block, 0, block_alloc);
  block_size = size;
  if (strcmp(kind, "map") == 0) {
    if (register_like(VFIO_IOMMU_SPAPR_REGISTER_MEMORY, (uintptr_t)block, block_alloc) != 0)
      die("VFIO_IOMMU_SPAPR_REGISTER_MEMORY");
    block_registered = 1;
  }
}

static void release(void) {
  if (block_registered &&
      register_like(VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, (uintptr_t)block, block_alloc) != 0)
    die("VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY");
  if (block != NULL) munmap(block, block_alloc);
  block = NULL;
  block_size = 0;
  block_alloc = 0;
  block_registered = 0;
}

static uint64_t run(const char *op, long n) {
  const uint64_t vaddr = (uintptr_t)block;
  uint64_t start = now_ns();
  if (strcmp(op, "noop") == 0) {
    for (long i = 0; i < n; i++)
      if (ioctl(container, VFIO_CHECK_EXTENSION, VFIO_SPAPR_TCE_v2_IOMMU) != 1)
        die("VFIO_CHECK_EXTENSION");
  } else if (strcmp(op, "map") == 0) {
    for (long i = 0; i < n; i++) {
      if (map_dma(vaddr, 0, block_size) != 0) die("VFIO_IOMMU_MAP_DMA");
      if (unmap_dma(0, block_size) != 0) die("VFIO_IOMMU_UNMAP_DMA");
    }
  } else if (strcmp(op, "mapn") == 0) {
    // One IOMMU page (4K) per map, from consecutive 4K pieces of the block.
    for (long i = 0; i < n; i++)
      if (map_dma(vaddr + (uint64_t)i * 4096, (uint64_t)i * 4096, 4096) != 0)
        die("VFIO_IOMMU_MAP_DMA");
    uint64_t end = now_ns();
    for (long i = 0; i < n; i++)
      if (unmap_dma((uint64_t)i * 4096, 4096) != 0) die("VFIO_IOMMU_UNMAP_DMA");
    return end - start;
  } else if (strcmp(op, "mapscatter") == 0 || strcmp(op, "unmapn") == 0) {
    const int unmap_timed = strcmp(op, "unmapn") == 0;
    for (long i = 0; i < n; i++)
      if (map_dma(vaddr + (uint64_t)((i * 7) % n) * 4096, (uint64_t)i * 4096, 4096) != 0)
        die("VFIO_IOMMU_MAP_DMA");
    uint64_t mapped = now_ns();
    for (long i = 0; i < n; i++)
      if (unmap_dma((uint64_t)i * 4096, 4096) != 0) die("VFIO_IOMMU_UNMAP_DMA");
    return unmap_timed ? now_ns() - mapped : mapped - start;
  } else if (strcmp(op, "mapwhole") == 0) {
    if (map_dma(vaddr, 0, (uint64_t)n * 4096) != 0) die("VFIO_IOMMU_MAP_DMA");
    uint64_t end = now_ns();
    if (unmap_dma(0, (uint64_t)n * 4096) != 0) die("VFIO_IOMMU_UNMAP_DMA");
    return end - start;
  } else if (strcmp(op, "register") == 0) {
    for (long i = 0; i < n; i++) {
      if (register_like(VFIO_IOMMU_SPAPR_REGISTER_MEMORY, vaddr, block_size) != 0)
        die("VFIO_IOMMU_SPAPR_REGISTER_MEMORY");
      if (register_like(VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, vaddr, block_size) != 0)
        die("VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY");
    }
  } else if (strcmp(op, "window") == 0) {
    for (long i = 0; i < n; i++) {
      struct vfio_iommu_spapr_tce_create create;
      memset(&create, 0, sizeof create);
      create.argsz = sizeof create;
      create.page_shift = 16;
      create.window_size = 1ull << 32;
      create.levels = 1;
      if (ioctl(container, VFIO_IOMMU_SPAPR_TCE_CREATE, &create) != 0)
        die("VFIO_IOMMU_SPAPR_TCE_CREATE");
      struct vfio_iommu_spapr_tce_remove remove;
      memset(&remove, 0, sizeof remove);
      remove.argsz = sizeof remove;
      remove.start_addr = create.start_addr;
      if (ioctl(container, VFIO_IOMMU_SPAPR_TCE_REMOVE, &remove) != 0)
        die("VFIO_IOMMU_SPAPR_TCE_REMOVE");
    }
  } else {
    errno = EINVAL;
    die(op);
  }
  return now_ns() - start;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: vfio-bench GROUP\n");
    return 2;
  }
  char path[64];
  snprintf(path, sizeof path, "/dev/vfio/%s", argv[1]);
  container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
  if (container < 0) die("open /dev/vfio/vfio");
  int group = open(path, O_RDWR | O_CLOEXEC);
  if (group < 0) die("open group");
  if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) != 0) die("VFIO_GROUP_SET_CONTAINER");
  if (ioctl(container, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU) != 0) die("VFIO_SET_IOMMU");
  printf("ready\n");
  fflush(stdout);

  char line[256];
  while (fgets(line, sizeof line, stdin) != NULL) {
    char verb[32] = "", what[32] = "";
    unsigned long long number = 0;
    int fields = sscanf(line, "%31s %31s %llu", verb, what, &number);
    if (fields >= 2 && strcmp(verb, "prepare") == 0) {
      prepare(what, number);
      printf("ok\n");
    } else if (fields == 3 && strcmp(verb, "run") == 0) {
      printf("ns %llu\n", (unsigned long long)run(what, (long)number));
    } else if (fields >= 1 && strcmp(verb, "release") == 0) {
      release();
      printf("ok\n");
    } else {
      errno = EINVAL;
      die("command");
    }
    fflush(stdout);
  }
  release();
  return 0;
}
