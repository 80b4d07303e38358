#include "core/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <unordered_set>
#include <vector>

#include "core/error.h"

namespace metaids {
namespace {

namespace fs = std::filesystem;

constexpr size_t kBufferBytes = size_t{1} << 16;
constexpr int kMaxSymlinks = 40;      // as the kernel's own limit for a path walk
constexpr int kMaxNameAttempts = 64;  // EEXIST on a random 10-character suffix: someone is guessing
constexpr size_t kSuffixLength = 10;
constexpr size_t kNameMax = 255;

std::string describe(const fs::path& path) { return path == "-" ? std::string("standard output") : path.string(); }

// --- the registry of temporaries a signal handler may have to remove ------------------------
//
// Fixed slots so that remove_temporary_outputs() touches no allocator and no lock: a slot is
// claimed by compare-and-swap (free -> busy), filled, then published (busy -> live). The
// handler takes a live slot (live -> busy) while it unlinks, so a slot is never refilled
// under it; unregistering waits for that.
constexpr int kRegistrySlots = 64;
constexpr size_t kRegistryPathBytes = 4096;
enum SlotState : int { kFree = 0, kBusy = 1, kLive = 2 };
struct RegistrySlot {
  std::atomic<int> state{kFree};
  char path[kRegistryPathBytes];
};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs lock-free atomics");
RegistrySlot g_registry[kRegistrySlots];

// Returns the slot, or -1 when the path is too long or every slot is taken (the temporary is
// then still removed on failure and destruction, only not by a signal handler).
int register_temporary(const fs::path& absolute) {
  const std::string& text = absolute.native();
  if (text.size() >= kRegistryPathBytes) return -1;
  for (int i = 0; i < kRegistrySlots; ++i) {
    int expected = kFree;
    if (g_registry[i].state.compare_exchange_strong(expected, kBusy)) {
      std::memcpy(g_registry[i].path, text.c_str(), text.size() + 1);
      g_registry[i].state.store(kLive);
      return i;
    }
  }
  return -1;
}

void unregister_temporary(int slot) noexcept {
  if (slot < 0) return;
  while (true) {
    int expected = kLive;
    if (g_registry[slot].state.compare_exchange_weak(expected, kFree) || expected == kFree) return;
    // kBusy: a handler on another thread is unlinking it right now.
  }
}

// --- temporary names ----------------------------------------------------------------------

std::atomic<std::string (*)()> g_suffix_source{nullptr};
std::atomic<int (*)(int)> g_directory_sync{nullptr};

std::string random_suffix() {
  if (const auto source = g_suffix_source.load()) return source();
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::array<unsigned char, kSuffixLength> bytes{};
  if (::getrandom(bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
    std::random_device device;
    for (auto& byte : bytes) byte = static_cast<unsigned char>(device());
  }
  std::string suffix(kSuffixLength, 'x');
  for (size_t i = 0; i < kSuffixLength; ++i) suffix[i] = kAlphabet[bytes[i] % (sizeof kAlphabet - 1)];
  return suffix;
}

// ".<name>.<suffix>", with the name shortened so that the whole stays within NAME_MAX.
std::string temporary_name(const std::string& name, const std::string& suffix) {
  const size_t room = kNameMax - 2 - suffix.size();
  std::string temporary;
  temporary.reserve(kNameMax);
  temporary += '.';
  temporary.append(name, 0, std::min(name.size(), room));
  temporary += '.';
  temporary += suffix;
  return temporary;
}

// --- what the path names ------------------------------------------------------------------

struct Resolved {
  fs::path target;  // the path itself, or a symlink chain's final target
  bool exists = false;
  struct stat info {};
};

Resolved resolve(const fs::path& path) {
  Resolved resolved;
  resolved.target = path;
  for (int links = 0;; ++links) {
    if (::lstat(resolved.target.c_str(), &resolved.info) != 0) {
      if (errno == ENOENT) return resolved;
      fail("cannot write {}: {}", path.string(), std::strerror(errno));
    }
    if (!S_ISLNK(resolved.info.st_mode)) {
      resolved.exists = true;
      return resolved;
    }
    require(links < kMaxSymlinks, "cannot write {}: more than {} symbolic links in a chain", path.string(), kMaxSymlinks);
    std::error_code error;
    const fs::path link = fs::read_symlink(resolved.target, error);
    require(!error, "cannot write {}: cannot read the link {}: {}", path.string(), resolved.target.string(),
            error.message());
    resolved.target = link.is_absolute() ? link : resolved.target.parent_path() / link;
  }
}

// A Unix socket at the path: connected as a stream, written like a FIFO.
int connect_socket(const fs::path& path, const fs::path& shown) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  require(path.native().size() < sizeof address.sun_path, "cannot write {}: the socket's path is too long",
          shown.string());
  std::memcpy(address.sun_path, path.c_str(), path.native().size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  require(fd >= 0, "cannot write {}: {}", shown.string(), std::strerror(errno));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int saved = errno;
    ::close(fd);
    fail("cannot write {}: cannot connect to the socket: {}", shown.string(), std::strerror(saved));
  }
  return fd;
}

// Blocks the signals whose handlers remove temporaries while a temporary is created and
// registered, so that none is left between the two.
class SignalsBlocked {
 public:
  SignalsBlocked() {
    sigset_t blocked;
    sigemptyset(&blocked);
    for (const int signal_number : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&blocked, signal_number);
    ::pthread_sigmask(SIG_BLOCK, &blocked, &previous_);
  }
  ~SignalsBlocked() { ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
  SignalsBlocked(const SignalsBlocked&) = delete;
  SignalsBlocked& operator=(const SignalsBlocked&) = delete;

 private:
  sigset_t previous_;
};

void on_fatal_signal(int signal_number) {
  const int saved = errno;
  remove_temporary_outputs();
  errno = saved;
  // SA_RESETHAND restored the default action; the signal is blocked while this handler runs
  // and is delivered again when it returns: the process ends as if never handled.
  ::raise(signal_number);
}

}  // namespace

// --- OutputFile ---------------------------------------------------------------------------

OutputFile OutputFile::open(const fs::path& path) {
  require(!path.empty(), "no output path given");
  OutputFile out;
  out.path_ = path;
  out.target_ = path;
  out.buffer_.reserve(kBufferBytes);
  if (path == "-") {
    std::fflush(stdout);  // what was printed through stdio comes first
    out.fd_ = STDOUT_FILENO;
    out.streamed_ = true;
    return out;
  }
  const Resolved resolved = resolve(path);
  out.target_ = resolved.target;
  const mode_t type = resolved.info.st_mode & S_IFMT;
  if (resolved.exists) {
    require(type != S_IFDIR, "cannot write {}: it is a directory", path.string());
    require(type != S_IFBLK, "cannot write {}: it is a block device (refusing to write over a disk)", path.string());
    if (type == S_IFCHR || type == S_IFIFO) {
      // No O_CREAT, no O_TRUNC, no link followed: if the node was swapped for anything else
      // in the meantime, the type check below refuses it.
      const int fd = ::open(out.target_.c_str(), O_WRONLY | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
      require(fd >= 0, "cannot write {}: {}", path.string(), std::strerror(errno));
      struct stat opened {};
      if (::fstat(fd, &opened) != 0 || (opened.st_mode & S_IFMT) != type) {
        ::close(fd);
        fail("cannot write {}: it changed while being opened", path.string());
      }
      out.fd_ = fd;
      out.owns_fd_ = true;
      out.streamed_ = true;
      return out;
    }
    if (type == S_IFSOCK) {
      out.fd_ = connect_socket(out.target_, path);
      out.owns_fd_ = true;
      out.streamed_ = true;
      return out;
    }
    require(type == S_IFREG, "cannot write {}: not a regular file, device, FIFO or socket", path.string());
  }

  // Atomic replace: a fresh temporary beside the target.
  const std::string name = out.target_.filename().string();
  require(!name.empty() && name != "." && name != "..", "cannot write {}: not a file name", path.string());
  const fs::path directory = out.target_.has_parent_path() ? out.target_.parent_path() : fs::path(".");
  SignalsBlocked blocked;
  for (int attempt = 0; out.fd_ < 0; ++attempt) {
    require(attempt < kMaxNameAttempts, "cannot write {}: {} temporary names in {} were all taken", path.string(),
            kMaxNameAttempts, directory.string());
    const fs::path temporary = directory / temporary_name(name, random_suffix());
    // O_EXCL fails on anything already there, a planted symlink included (and O_NOFOLLOW
    // says so twice); 0666 less the umask, as any new file.
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) {
      if (errno == EEXIST || errno == ELOOP) continue;
      fail("cannot write {}: cannot create a temporary file in {}: {}", path.string(), directory.string(),
           std::strerror(errno));
    }
    out.fd_ = fd;
    out.owns_fd_ = true;
    out.temporary_ = temporary;
  }
  std::error_code error;
  const fs::path absolute = fs::absolute(out.temporary_, error);
  out.registry_slot_ = register_temporary(error ? out.temporary_ : absolute);
  if (resolved.exists) {
    // The replacement keeps the permission bits (set-id bits dropped) and, for root, the owner.
    if (::fchmod(out.fd_, resolved.info.st_mode & 0777) != 0) {
      const int saved = errno;
      out.release();
      fail("cannot write {}: cannot set the permissions of its temporary: {}", path.string(), std::strerror(saved));
    }
    if (::geteuid() == 0 && (resolved.info.st_uid != 0 || resolved.info.st_gid != 0)) {
      // Best effort: a file system that refuses keeps root as the owner, which is no risk.
      [[maybe_unused]] const int ignored = ::fchown(out.fd_, resolved.info.st_uid, resolved.info.st_gid);
    }
  }
  return out;
}

OutputFile::OutputFile(OutputFile&& other) noexcept
    : path_(std::move(other.path_)),
      target_(std::move(other.target_)),
      temporary_(std::move(other.temporary_)),
      buffer_(std::move(other.buffer_)),
      fd_(other.fd_),
      owns_fd_(other.owns_fd_),
      streamed_(other.streamed_),
      committed_(other.committed_),
      registry_slot_(other.registry_slot_) {
  other.temporary_.clear();
  other.fd_ = -1;
  other.owns_fd_ = false;
  other.registry_slot_ = -1;
}

OutputFile& OutputFile::operator=(OutputFile&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    target_ = std::move(other.target_);
    temporary_ = std::move(other.temporary_);
    buffer_ = std::move(other.buffer_);
    fd_ = other.fd_;
    owns_fd_ = other.owns_fd_;
    streamed_ = other.streamed_;
    committed_ = other.committed_;
    registry_slot_ = other.registry_slot_;
    other.temporary_.clear();
    other.fd_ = -1;
    other.owns_fd_ = false;
    other.registry_slot_ = -1;
  }
  return *this;
}

OutputFile::~OutputFile() { release(); }

void OutputFile::release() noexcept {
  if (fd_ >= 0 && owns_fd_) ::close(fd_);
  fd_ = -1;
  owns_fd_ = false;
  if (!temporary_.empty()) {
    ::unlink(temporary_.c_str());
    temporary_.clear();
  }
  unregister_temporary(registry_slot_);
  registry_slot_ = -1;
  buffer_.clear();
}

void OutputFile::write_out(const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd_, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      release();
      fail("cannot write {}: {}", describe(path_), std::strerror(saved));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
}

void OutputFile::write(std::string_view bytes) {
  require(fd_ >= 0, "cannot write {}: the output is {}", describe(path_), committed_ ? "already committed" : "closed");
  if (buffer_.size() + bytes.size() <= kBufferBytes) {
    buffer_.append(bytes);
    return;
  }
  flush();
  if (bytes.size() >= kBufferBytes) {
    write_out(bytes.data(), bytes.size());
  } else {
    buffer_.append(bytes);
  }
}

void OutputFile::flush() {
  if (fd_ < 0) return;
  if (!owns_fd_) std::fflush(stdout);
  if (!buffer_.empty()) write_out(buffer_.data(), buffer_.size());
  buffer_.clear();
}

void OutputFile::commit() {
  if (committed_) return;
  require(fd_ >= 0, "cannot commit {}: the output is closed", describe(path_));
  flush();
  if (streamed_) {
    if (owns_fd_) {
      const int result = ::close(fd_);
      const int saved = errno;
      fd_ = -1;
      owns_fd_ = false;
      require(result == 0 || saved == EINTR, "cannot write {}: {}", describe(path_), std::strerror(saved));
    }
    fd_ = -1;
    committed_ = true;
    return;
  }
  if (::fsync(fd_) != 0) {
    const int saved = errno;
    release();
    fail("cannot write {}: fsync failed: {}", path_.string(), std::strerror(saved));
  }
  const int closed = ::close(fd_);
  fd_ = -1;
  if (closed != 0 && errno != EINTR) {
    const int saved = errno;
    release();
    fail("cannot write {}: {}", path_.string(), std::strerror(saved));
  }
  if (::rename(temporary_.c_str(), target_.c_str()) != 0) {
    const int saved = errno;
    release();
    fail("cannot write {}: cannot rename its temporary into place: {}", path_.string(), std::strerror(saved));
  }
  // The temporary's name is gone; a handler unlinking it now would find nothing.
  temporary_.clear();
  unregister_temporary(registry_slot_);
  registry_slot_ = -1;
  committed_ = true;

  // Make the rename itself durable. A file system that cannot sync a directory says EINVAL.
  const fs::path directory = target_.has_parent_path() ? target_.parent_path() : fs::path(".");
  const int directory_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  require(directory_fd >= 0, "{} was written, but its directory {} could not be opened to sync it: {}", path_.string(),
          directory.string(), std::strerror(errno));
  const auto sync = g_directory_sync.load();
  const int synced = sync != nullptr ? sync(directory_fd) : ::fsync(directory_fd);
  const int saved = errno;
  ::close(directory_fd);
  require(synced == 0 || saved == EINVAL || saved == ENOTSUP,
          "{} was written, but syncing its directory {} failed: {} (the new file may not survive a crash)",
          path_.string(), directory.string(), std::strerror(saved));
}

void write_file_atomically(const fs::path& path, std::string_view bytes) {
  OutputFile out = OutputFile::open(path);
  out.write(bytes);
  out.commit();
}

void remove_temporary_outputs() noexcept {
  for (auto& slot : g_registry) {
    int expected = kLive;
    if (slot.state.compare_exchange_strong(expected, kBusy)) {
      ::unlink(slot.path);
      slot.state.store(kLive);
    }
  }
}

void install_output_cleanup_on_signals() {
  for (const int signal_number : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction current {};
    if (::sigaction(signal_number, nullptr, &current) != 0) continue;
    const bool is_default = (current.sa_flags & SA_SIGINFO) == 0 && current.sa_handler == SIG_DFL;
    if (!is_default) continue;  // ignored (nohup) stays ignored; a handler stays
    struct sigaction action {};
    action.sa_handler = on_fatal_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND;
    ::sigaction(signal_number, &action, nullptr);
  }
}

// --- reading ------------------------------------------------------------------------------

std::string read_whole_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open {}: {}", path.string(), std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail("cannot read {}", path.string());
  return std::move(ss).str();
}

nlohmann::json parse_json_strict(std::string_view text, std::string_view source) {
  using json = nlohmann::json;
  std::vector<std::unordered_set<std::string>> open_objects;  // the keys seen, innermost last
  const json::parser_callback_t reject_duplicates = [&](int depth, json::parse_event_t event, json& parsed) {
    // Deeper documents are refused before they are built: destroying a deep value recurses.
    if (depth > kMaxJsonDepth) fail("{}: JSON nested deeper than {} levels", source, kMaxJsonDepth);
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case json::parse_event_t::key:
        if (!open_objects.back().insert(parsed.get<std::string>()).second) {
          fail("{}: duplicate key \"{}\" in a JSON object", source, parsed.get<std::string>());
        }
        break;
      case json::parse_event_t::object_end:
        open_objects.pop_back();
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), reject_duplicates);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for numbers beyond double
    fail("{}: not valid JSON: {}", source, e.what());
  }
}

nlohmann::json read_json_file(const fs::path& path) { return parse_json_strict(read_whole_file(path), path.string()); }

namespace output_testing {
void set_temporary_suffix_source(std::string (*next_suffix)()) { g_suffix_source.store(next_suffix); }
void set_directory_sync(int (*sync_directory)(int directory_fd)) { g_directory_sync.store(sync_directory); }
}  // namespace output_testing

}  // namespace metaids
