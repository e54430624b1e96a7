# Builds the addon from native/sources.json, the source list CMakeLists.txt
# reads too. Set TCPSENSOR_WERROR=1 to make warnings errors (CI does).
{
  "targets": [
    {
      "target_name": "tcpsensor",
      "sources": [
        "<!@(node -p \"const s=require('./native/sources.json'); [...s.core, ...s.capture, ...s.addon].join(' ')\")"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "libraries": ["-lpcap"],
      "ldflags": ["-flto=auto", "-O3"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": [
        "-isystem", "<!(node -p \"require('path').dirname(require.resolve('node-addon-api/package.json'))\")",
        "-std=c++17", "-O3", "-flto", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wshadow", "-Wnon-virtual-dtor",
        "-Wcast-align", "-Wunused",
        "<!(node -p \"process.env.TCPSENSOR_WERROR === '1' ? '-Werror' : ''\")"
      ],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-fvisibility=hidden"]
      }
    }
  ]
}
