// Helpers for the output tests: a temporary directory, file contents, temporaries left over,
// and a character device that is safe to write to.
#pragma once
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace metaids::test {

class OutputTempDir {
 public:
  OutputTempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("metaids-output-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~OutputTempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  OutputTempDir(const OutputTempDir&) = delete;
  OutputTempDir& operator=(const OutputTempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline std::string contents_of(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void put_contents(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// Names in `dir` other than `keep`: what a writer left behind.
inline std::vector<std::string> names_besides(const std::filesystem::path& dir, const std::vector<std::string>& keep) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    bool kept = false;
    for (const auto& k : keep) kept = kept || k == name;
    if (!kept) names.push_back(name);
  }
  return names;
}

inline bool is_character_device_at(const std::filesystem::path& path) {
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0 && S_ISCHR(info.st_mode);
}

inline bool is_fifo_at(const std::filesystem::path& path) {
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0 && S_ISFIFO(info.st_mode);
}

// A character device that swallows what is written, for tests. Run as root, a writer that
// replaced its target would destroy the system's /dev/null, so root gets a private node
// (major 1, minor 3, as /dev/null) in `dir`; anyone else gets /dev/null, which they cannot
// replace. Empty when neither is possible.
inline std::filesystem::path null_device_for_test(const std::filesystem::path& dir) {
  if (::geteuid() != 0) return "/dev/null";
  const auto node = dir / "null";
  if (::mknod(node.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) return {};
  return node;
}

}  // namespace metaids::test
