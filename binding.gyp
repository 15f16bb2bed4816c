# The node-gyp build: the same C++ as CMakeLists.txt without the CUDA backend. It is used where
# CMake or nvcc is missing, or when asked for (LLMREC_BUILD=gyp); see scripts/build-native.mjs.
{
  "targets": [
    {
      "target_name": "llmrec",
      "sources": [
        "<!@(node -e \"const fs=require('fs');for(const d of ['native/core','native/cpu','native/ops','native/addon'])for(const f of fs.readdirSync(d).sort())if(f.endsWith('.cc'))console.log(d+'/'+f)\")"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "LLMREC_VERSION=\"<!(node -p \"require('./package.json').version\")\"",
        "LLMREC_BUILD_SYSTEM=\"node-gyp\"",
        "LLMREC_BUILD_TYPE=\"Release\""
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["target_arch=='x64'", { "cflags_cc": ["<!@(node -p \"const m = process.env.LLMREC_MARCH ?? 'x86-64-v3'; m ? '-march=' + m : ''\")"] }]
      ]
    }
  ]
}
