// Each concept's file adds its functions to the module's exports.
#ifndef VFIO_SPAPR_ADDON_H_
#define VFIO_SPAPR_ADDON_H_

#include <napi.h>

namespace vfio {

void InitContainer(Napi::Env env, Napi::Object exports);     // container.cc
void InitGroup(Napi::Env env, Napi::Object exports);         // group.cc
void InitDevice(Napi::Env env, Napi::Object exports);        // device.cc
void InitMmio(Napi::Env env, Napi::Object exports);          // mmio.cc
void InitEventfd(Napi::Env env, Napi::Object exports);       // eventfd.cc
void InitEventfdWatch(Napi::Env env, Napi::Object exports);  // eventfd_watch.cc
void InitIrq(Napi::Env env, Napi::Object exports);           // irq.cc
void InitHotReset(Napi::Env env, Napi::Object exports);      // hot_reset.cc
void InitMemory(Napi::Env env, Napi::Object exports);        // memory.cc
void InitProcess(Napi::Env env, Napi::Object exports);       // process.cc
void InitGuestMemory(Napi::Env env, Napi::Object exports);   // guest_memory.cc
void InitGuestTable(Napi::Env env, Napi::Object exports);    // guest_table_napi.cc
void InitRegistry(Napi::Env env, Napi::Object exports);      // registry.cc

}  // namespace vfio

#endif  // VFIO_SPAPR_ADDON_H_
