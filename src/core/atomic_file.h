// Outputs that never destroy what is at the path. Every file metaids writes (flows,
// predictions, models, experiment results, synthetic traces) goes through OutputFile, which
// decides how to write from what the path names:
//
//   "-"                              standard output, streamed
//   a character device, FIFO or      opened (a socket: connected) and written directly,
//   Unix socket                      streamed; never replaced: /dev/null stays a device and a
//                                    FIFO's reader gets the data
//   a symlink                        the whole chain is resolved; its final target is written
//                                    as below, in the target's directory (the links stay)
//   a regular file, or nothing yet   atomic replace: the bytes go to a new temporary
//                                    ".<name>.XXXXXXXXXX" (random suffix; open with
//                                    O_CREAT|O_EXCL|O_NOFOLLOW, so nothing planted there is
//                                    followed) in the same directory, are fsync'ed, the
//                                    temporary is renamed over the target and the directory is
//                                    fsync'ed. A reader sees the old file or the whole new one.
//   a directory or block device      refused (metaids::Error)
//
// A new file gets mode 0666 less the umask; a replaced file keeps its permission bits (and,
// when run as root, its owner and group). The temporary is removed when anything fails, when
// the OutputFile is destroyed without commit(), and on SIGINT/SIGTERM/SIGHUP once
// install_output_cleanup_on_signals() has run (main does that); a command with signal
// handlers of its own calls remove_temporary_outputs() from them, or commits.
//
//   metaids::OutputFile out = metaids::OutputFile::open(path);  // throws metaids::Error
//   out.write(header);
//   for (const Row& row : rows) out.write(format(row));          // buffered (64 KiB)
//   out.commit();  // flush; atomic: fsync, rename, fsync the directory; streamed: close
//   // An exception before commit() destroys `out`: the temporary is removed and the previous
//   // file is untouched (a streamed output keeps what was flushed; the rest is dropped).
//
//   metaids::write_file_atomically(path, bytes);  // the same in one call
//
// OutputFile is move-only and not thread-safe; two OutputFiles (threads or processes) may
// write the same path at once: each has its own temporary and the last commit wins whole.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace metaids {

class OutputFile {
 public:
  // Opens `path` as described above. For a FIFO this waits until a reader opens it.
  static OutputFile open(const std::filesystem::path& path);

  OutputFile(OutputFile&& other) noexcept;
  OutputFile& operator=(OutputFile&& other) noexcept;
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  // Without commit(): removes the temporary (atomic) or drops the unflushed bytes (streamed).
  ~OutputFile();

  // Appends bytes; they reach the file when the buffer fills, on flush() and on commit().
  void write(std::string_view bytes);
  // Writes the buffered bytes to the file (a streamed output's reader sees them now).
  void flush();
  // Finishes the output: see the table above. Throws metaids::Error on failure; the
  // temporary is then removed and the previous file stays, except when only the final
  // directory fsync fails: the new file is in place but may not survive a crash, and the
  // error says so. Idempotent once it has succeeded; write() after commit() throws.
  void commit();

  // True for "-", devices, FIFOs and sockets (written directly), false for an atomic replace.
  bool streamed() const { return streamed_; }
  bool committed() const { return committed_; }
  // The path as given, and the file written (a symlink's final target; the path otherwise).
  const std::filesystem::path& path() const { return path_; }
  const std::filesystem::path& target() const { return target_; }
  // The temporary being written (empty when streamed or after commit).
  const std::filesystem::path& temporary() const { return temporary_; }

 private:
  OutputFile() = default;
  void write_out(const char* data, size_t size);
  void release() noexcept;  // closes and removes what is left; no throw

  std::filesystem::path path_;
  std::filesystem::path target_;
  std::filesystem::path temporary_;
  std::string buffer_;
  int fd_ = -1;
  bool owns_fd_ = false;
  bool streamed_ = false;
  bool committed_ = false;
  int registry_slot_ = -1;
};

// Writes `bytes` to `path` through OutputFile (atomic for a regular file, streamed for "-", a
// device or a FIFO). Throws metaids::Error; on failure the previous content stays.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes);

// Unlinks every temporary an OutputFile is writing in this process. Async-signal-safe: call
// it from a signal handler that is about to end the process.
void remove_temporary_outputs() noexcept;

// Installs handlers for SIGINT, SIGTERM and SIGHUP that call remove_temporary_outputs() and
// then die of the same signal (the conventional exit status). A signal that is ignored
// (nohup) stays ignored and one with a handler keeps it. Later handlers replace these.
void install_output_cleanup_on_signals();

// Reads a whole file; throws metaids::Error with the path and reason on failure.
std::string read_whole_file(const std::filesystem::path& path);

// Parses JSON text, rejecting what nlohmann accepts silently: a key twice in one object (the
// later value would win). Throws metaids::Error with one line naming `source`:
// "SOURCE: not valid JSON: …" or "SOURCE: duplicate key "KEY" in a JSON object".
// Documents nested deeper than kMaxJsonDepth levels are refused too.
inline constexpr int kMaxJsonDepth = 64;
nlohmann::json parse_json_strict(std::string_view text, std::string_view source);

// Reads and parses a JSON file with parse_json_strict (the source named is the path).
nlohmann::json read_json_file(const std::filesystem::path& path);

// Test hooks (tests/core/output_file_test.cpp); not for production code.
namespace output_testing {
// Suffixes for the next temporaries instead of random ones (nullptr: random again).
void set_temporary_suffix_source(std::string (*next_suffix)());
// Replaces the fsync of the target's directory after the rename (nullptr: ::fsync).
void set_directory_sync(int (*sync_directory)(int directory_fd));
}  // namespace output_testing

}  // namespace metaids
