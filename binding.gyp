# The one native build definition (node-gyp, bundled with npm). Built offline
# against Node's own headers (nodedir) and Debian's libbpf; see
# docs/ARCHITECTURE.md for why not cmake-js.
{
  "targets": [
    {
      "target_name": "ctscope",
      # Every native/*.cc is part of the addon: one file per JS-visible piece,
      # and what they share or stand on: bpf_loader.cc, the libbpf loader;
      # in_netns.cc, the way into another network namespace;
      # netlink_reader.cc, netlink_dump.cc and netlink_loop.cc, the ctnetlink
      # reader behind netlink_source.cc.
      "sources": [ "<!@(ls -1 native/*.cc)" ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "bpf",
        "build/bpf"
      ],
      "defines": [ "NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED" ],
      "cflags_cc": [ "-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers" ],
      "cflags_cc!": [ "-fno-exceptions" ],
      "libraries": [ "-lbpf", "-lelf", "-lz", "-lpthread" ]
    }
  ]
}
