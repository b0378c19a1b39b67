#include "ioctl.h"

#include <errno.h>
#include <linux/vfio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "errors.h"

namespace vfio {

int IoctlResult(Napi::Env env, int fd, unsigned long request, void* arg, const char* name) {
  int rc = ioctl(fd, request, arg);
  if (rc < 0) ThrowSystemError(env, errno, "ioctl", name);
  return rc;
}

int IoctlResult(Napi::Env env, int fd, unsigned long request, unsigned long arg, const char* name) {
  int rc = ioctl(fd, request, arg);
  if (rc < 0) ThrowSystemError(env, errno, "ioctl", name);
  return rc;
}

void IoctlVoid(Napi::Env env, int fd, unsigned long request, void* arg, const char* name) {
  int rc = IoctlResult(env, fd, request, arg, name);
  if (rc != 0) ThrowUnexpectedReturn(env, rc, "ioctl", name);
}

void IoctlVoid(Napi::Env env, int fd, unsigned long request, unsigned long arg, const char* name) {
  int rc = IoctlResult(env, fd, request, arg, name);
  if (rc != 0) ThrowUnexpectedReturn(env, rc, "ioctl", name);
}

int MapDmaRaw(int fd, uint64_t vaddr, uint64_t iova, uint64_t size, uint32_t flags) {
  struct vfio_iommu_type1_dma_map map;
  memset(&map, 0, sizeof map);
  map.argsz = sizeof map;
  map.flags = flags;
  map.vaddr = vaddr;
  map.iova = iova;
  map.size = size;
  return ioctl(fd, VFIO_IOMMU_MAP_DMA, &map);
}

int UnmapDmaRaw(int fd, uint64_t iova, uint64_t size, uint32_t flags) {
  struct vfio_iommu_type1_dma_unmap unmap;
  memset(&unmap, 0, sizeof unmap);
  unmap.argsz = sizeof unmap;
  unmap.flags = flags;
  unmap.iova = iova;
  unmap.size = size;
  return ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &unmap);
}

Napi::Error IoctlError(Napi::Env env, int rc, int err, const char* name) {
  return rc < 0 ? SystemError(env, err, "ioctl", name)
                : UnexpectedReturnError(env, rc, "ioctl", name);
}

}  // namespace vfio
