{
  "targets": [
    {
      "target_name": "md5_mb",
      "sources": ["src/md5_mb.c", "src/binding.c"],
      "cflags": ["-O3", "-fno-strict-aliasing"],
      "cflags_c": ["-std=gnu11"]
    }
  ]
}
