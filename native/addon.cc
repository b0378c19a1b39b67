// Module entry: the constants and ioctl numbers of the build target's headers, the
// target architecture, and every concept's functions. Context-aware: each worker_thread gets
// its own instance; state shared by the process is only what the process must share: the
// registry of its registrations (registry.cc), which the kernel itself keeps per process, the
// pid cells (process.cc) and the one eventfd poller (eventfd_watch.cc: see there why).
#include "addon.h"

#include <linux/vfio.h>

namespace vfio {
namespace {

struct IoctlEntry {
  const char* name;
  unsigned long number;
};

#define VFIO_IOCTL_ENTRY(request) \
  { #request, static_cast < unsigned long>(request) }

constexpr IoctlEntry kIoctls[] = {
    VFIO_IOCTL_ENTRY(VFIO_GET_API_VERSION),
    VFIO_IOCTL_ENTRY(VFIO_CHECK_EXTENSION),
    VFIO_IOCTL_ENTRY(VFIO_SET_IOMMU),
    VFIO_IOCTL_ENTRY(VFIO_GROUP_GET_STATUS),
    VFIO_IOCTL_ENTRY(VFIO_GROUP_SET_CONTAINER),
    VFIO_IOCTL_ENTRY(VFIO_GROUP_UNSET_CONTAINER),
    VFIO_IOCTL_ENTRY(VFIO_GROUP_GET_DEVICE_FD),
    VFIO_IOCTL_ENTRY(VFIO_DEVICE_GET_INFO),
    VFIO_IOCTL_ENTRY(VFIO_DEVICE_GET_REGION_INFO),
    VFIO_IOCTL_ENTRY(VFIO_DEVICE_GET_IRQ_INFO),
    VFIO_IOCTL_ENTRY(VFIO_DEVICE_SET_IRQS),
    VFIO_IOCTL_ENTRY(VFIO_DEVICE_RESET),
    VFIO_IOCTL_ENTRY(VFIO_DEVICE_GET_PCI_HOT_RESET_INFO),
    VFIO_IOCTL_ENTRY(VFIO_DEVICE_PCI_HOT_RESET),
    VFIO_IOCTL_ENTRY(VFIO_IOMMU_SPAPR_TCE_GET_INFO),
    VFIO_IOCTL_ENTRY(VFIO_IOMMU_ENABLE),
    VFIO_IOCTL_ENTRY(VFIO_IOMMU_DISABLE),
    VFIO_IOCTL_ENTRY(VFIO_IOMMU_MAP_DMA),
    VFIO_IOCTL_ENTRY(VFIO_IOMMU_UNMAP_DMA),
    VFIO_IOCTL_ENTRY(VFIO_IOMMU_SPAPR_REGISTER_MEMORY),
    VFIO_IOCTL_ENTRY(VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY),
    VFIO_IOCTL_ENTRY(VFIO_IOMMU_SPAPR_TCE_CREATE),
    VFIO_IOCTL_ENTRY(VFIO_IOMMU_SPAPR_TCE_REMOVE),
    VFIO_IOCTL_ENTRY(VFIO_EEH_PE_OP),
};

#undef VFIO_IOCTL_ENTRY

// The architecture this file was compiled for, from the compiler's predefined macros.
constexpr const char* kTargetArch =
#if defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
    "ppc64le";
#elif defined(__powerpc64__)
    "ppc64";
#elif defined(__powerpc__)
    "ppc";
#elif defined(__x86_64__)
    "x86_64";
#elif defined(__i386__)
    "i386";
#elif defined(__aarch64__)
    "aarch64";
#elif defined(__arm__)
    "arm";
#elif defined(__s390x__)
    "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
    "riscv64";
#elif defined(__loongarch64)
    "loongarch64";
#elif defined(__mips64)
    "mips64";
#else
    "unknown";
#endif

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
#define SET(name) c.Set(#name, Napi::Number::New(env, static_cast<double>(name)))
  SET(VFIO_API_VERSION);
  SET(VFIO_TYPE1_IOMMU);
  SET(VFIO_SPAPR_TCE_IOMMU);
  SET(VFIO_SPAPR_TCE_v2_IOMMU);
  SET(VFIO_EEH);
  SET(VFIO_GROUP_FLAGS_VIABLE);
  SET(VFIO_GROUP_FLAGS_CONTAINER_SET);
  SET(VFIO_IOMMU_SPAPR_INFO_DDW);
  SET(VFIO_DMA_MAP_FLAG_READ);
  SET(VFIO_DMA_MAP_FLAG_WRITE);
  SET(VFIO_DEVICE_FLAGS_RESET);
  SET(VFIO_DEVICE_FLAGS_PCI);
  SET(VFIO_REGION_INFO_FLAG_READ);
  SET(VFIO_REGION_INFO_FLAG_WRITE);
  SET(VFIO_REGION_INFO_FLAG_MMAP);
  SET(VFIO_REGION_INFO_FLAG_CAPS);
  SET(VFIO_PCI_BAR0_REGION_INDEX);
  SET(VFIO_PCI_CONFIG_REGION_INDEX);
  SET(VFIO_PCI_NUM_REGIONS);
  SET(VFIO_PCI_INTX_IRQ_INDEX);
  SET(VFIO_PCI_MSI_IRQ_INDEX);
  SET(VFIO_PCI_MSIX_IRQ_INDEX);
  SET(VFIO_IRQ_INFO_EVENTFD);
  SET(VFIO_IRQ_SET_DATA_NONE);
  SET(VFIO_IRQ_SET_DATA_EVENTFD);
  SET(VFIO_IRQ_SET_ACTION_TRIGGER);
  // device interrupts and regions beyond the basics (irq.cc, lib/device/)
  SET(VFIO_IRQ_INFO_MASKABLE);
  SET(VFIO_IRQ_INFO_AUTOMASKED);
  SET(VFIO_IRQ_INFO_NORESIZE);
  SET(VFIO_IRQ_SET_DATA_BOOL);
  SET(VFIO_IRQ_SET_ACTION_MASK);
  SET(VFIO_IRQ_SET_ACTION_UNMASK);
  SET(VFIO_PCI_ERR_IRQ_INDEX);
  SET(VFIO_PCI_REQ_IRQ_INDEX);
  SET(VFIO_PCI_ROM_REGION_INDEX);
  SET(VFIO_EEH_PE_DISABLE);
  SET(VFIO_EEH_PE_ENABLE);
  SET(VFIO_EEH_PE_UNFREEZE_IO);
  SET(VFIO_EEH_PE_UNFREEZE_DMA);
  SET(VFIO_EEH_PE_GET_STATE);
  SET(VFIO_EEH_PE_RESET_DEACTIVATE);
  SET(VFIO_EEH_PE_RESET_HOT);
  SET(VFIO_EEH_PE_RESET_FUNDAMENTAL);
  SET(VFIO_EEH_PE_CONFIGURE);
  SET(VFIO_EEH_PE_INJECT_ERR);
#undef SET
  Napi::Object ioctls = Napi::Object::New(env);
  for (const IoctlEntry& entry : kIoctls) {
    ioctls.Set(entry.name, Napi::Number::New(env, static_cast<double>(entry.number)));
  }
  ioctls.Freeze();
  c.Set("ioctls", ioctls);
  c.Freeze();
  return c;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("constants", Constants(env));
  exports.Set("targetArch", Napi::String::New(env, kTargetArch));
  InitContainer(env, exports);
  InitGroup(env, exports);
  InitDevice(env, exports);
  InitMmio(env, exports);
  InitEventfd(env, exports);
  InitEventfdWatch(env, exports);
  InitIrq(env, exports);
  InitHotReset(env, exports);
  InitMemory(env, exports);
  InitProcess(env, exports);
  InitGuestMemory(env, exports);
  InitGuestTable(env, exports);
  InitRegistry(env, exports);
  return exports;
}

}  // namespace
}  // namespace vfio

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return vfio::Init(env, exports);
}

NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitModule)
