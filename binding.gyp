{
  "targets": [
    {
      "target_name": "vfio_spapr",
      "sources": [
        "native/addon.cc",
        "native/args.cc",
        "native/container.cc",
        "native/device.cc",
        "native/errors.cc",
        "native/eventfd.cc",
        "native/eventfd_watch.cc",
        "native/group.cc",
        "native/guest_memory.cc",
        "native/guest_table.cc",
        "native/guest_table_napi.cc",
        "native/hot_reset.cc",
        "native/ioctl.cc",
        "native/irq.cc",
        "native/mapping.cc",
        "native/memory.cc",
        "native/mmio.cc",
        "native/process.cc",
        "native/procfs.cc",
        "native/registry.cc",
        "native/tce_shadow.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except_all"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "_GNU_SOURCE"
      ],
      "variables": { "vfio_sanitize%": "false" },
      "conditions": [
        [ "vfio_sanitize=='true'", {
          "cflags": [ "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                      "-fno-omit-frame-pointer", "-g" ],
          "ldflags": [ "-fsanitize=address,undefined" ]
        } ]
      ],
      "cflags": [ "-Wall", "-Wextra" ],
      "cflags_cc": [ "-std=c++17" ],
      "cflags_cc!": [ "-std=gnu++17", "-std=gnu++20", "-std=c++20" ],
      "ldflags": [ "-pthread" ]
    }
  ]
}
