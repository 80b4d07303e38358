// OutputFile never destroys what is at the path: devices, FIFOs, sockets and "-" are
// streamed, symlinks are resolved and their target replaced, regular files are replaced
// atomically through a unique temporary that nothing planted can redirect, and no temporary
// outlives a failure, an abandoned writer or a fatal signal.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

#include "common/error_of.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/output_test_support.h"

namespace metaids::test {
namespace {

using Names = std::vector<std::string>;

// Restores the test hooks whatever a test does.
struct HookReset {
  ~HookReset() {
    output_testing::set_temporary_suffix_source(nullptr);
    output_testing::set_directory_sync(nullptr);
  }
};

TEST(OutputFile, NullDeviceIsWrittenDirectlyAndStaysADevice) {
  OutputTempDir dir;
  const auto device = null_device_for_test(dir.path());
  if (device.empty()) GTEST_SKIP() << "no character device that is safe to write to";
  OutputFile out = OutputFile::open(device);
  EXPECT_TRUE(out.streamed());
  EXPECT_TRUE(out.temporary().empty());
  out.write(std::string(1 << 20, 'x'));
  out.commit();
  EXPECT_TRUE(is_character_device_at(device));
  EXPECT_EQ(names_besides(dir.path(), {"null"}), Names{});
}

TEST(OutputFile, FifoIsStreamedToItsReaderAndStaysAFifo) {
  OutputTempDir dir;
  const auto fifo = dir / "out.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  std::string expected;
  for (int i = 0; i < 50000; ++i) expected += "line " + std::to_string(i) + "\n";  // beyond a pipe's buffer
  std::string received;
  {
    OutputFile out = OutputFile::open(fifo);
    EXPECT_TRUE(out.streamed());
    ::fcntl(reader, F_SETFL, 0);  // a writer is connected: blocking reads end at its close
    std::thread drain([&] {
      char buffer[4096];
      ssize_t n;
      while ((n = ::read(reader, buffer, sizeof buffer)) > 0) received.append(buffer, static_cast<size_t>(n));
    });
    out.write(expected.substr(0, 1000));
    out.flush();
    out.write(expected.substr(1000));
    out.commit();
    drain.join();
  }
  ::close(reader);
  EXPECT_TRUE(is_fifo_at(fifo));
  EXPECT_TRUE(received == expected) << received.size() << " bytes of " << expected.size();
  EXPECT_EQ(names_besides(dir.path(), {"out.fifo"}), Names{});
}

TEST(OutputFile, UnixSocketIsConnectedAndStreamed) {
  OutputTempDir dir;
  const auto socket_path = dir / "out.sock";
  const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  ASSERT_LT(socket_path.native().size(), sizeof address.sun_path);
  std::strcpy(address.sun_path, socket_path.c_str());
  ASSERT_EQ(::bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  std::string received;
  std::thread accept_and_read([&] {
    const int connection = ::accept(listener, nullptr, nullptr);
    char buffer[4096];
    ssize_t n;
    while (connection >= 0 && (n = ::read(connection, buffer, sizeof buffer)) > 0) {
      received.append(buffer, static_cast<size_t>(n));
    }
    if (connection >= 0) ::close(connection);
  });
  write_file_atomically(socket_path, "{\"event\":1}\n");
  accept_and_read.join();
  ::close(listener);
  EXPECT_EQ(received, "{\"event\":1}\n");
  struct stat info {};
  ASSERT_EQ(::lstat(socket_path.c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
}

TEST(OutputFile, DashIsStandardOutputInOrderWithStdio) {
  testing::internal::CaptureStdout();
  std::printf("before ");
  OutputFile out = OutputFile::open("-");
  EXPECT_TRUE(out.streamed());
  out.write("from the output");
  out.commit();
  write_file_atomically("-", "; again\n");
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "before from the output; again\n");
}

TEST(OutputFile, SymlinkChainIsResolvedItsTargetReplacedAndTheLinksStay) {
  OutputTempDir dir;
  std::filesystem::create_directories(dir / "models");
  std::filesystem::create_directories(dir / "links");
  const auto target = dir / "models" / "v1.mids";
  put_contents(target, "old model");
  ASSERT_EQ(::chmod(target.c_str(), 0640), 0);
  std::filesystem::create_symlink("../models/v1.mids", dir / "links" / "current");  // relative
  std::filesystem::create_symlink(dir / "links" / "current", dir / "latest");       // absolute
  OutputFile out = OutputFile::open(dir / "latest");
  EXPECT_FALSE(out.streamed());
  EXPECT_EQ(out.target(), dir / "links" / ".." / "models" / "v1.mids");
  EXPECT_EQ(out.temporary().parent_path(), out.target().parent_path());  // in the target's directory
  out.write("new model");
  out.commit();
  EXPECT_TRUE(std::filesystem::is_symlink(dir / "latest"));
  EXPECT_TRUE(std::filesystem::is_symlink(dir / "links" / "current"));
  EXPECT_EQ(contents_of(target), "new model");
  struct stat info {};
  ASSERT_EQ(::stat(target.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0640u);
  EXPECT_EQ(names_besides(dir / "models", {"v1.mids"}), Names{});
  EXPECT_EQ(names_besides(dir / "links", {"current"}), Names{});
}

TEST(OutputFile, DanglingSymlinkCreatesItsTarget) {
  OutputTempDir dir;
  std::filesystem::create_symlink("results.json", dir / "latest.json");
  write_file_atomically(dir / "latest.json", "{}\n");
  EXPECT_TRUE(std::filesystem::is_symlink(dir / "latest.json"));
  EXPECT_EQ(contents_of(dir / "results.json"), "{}\n");
}

TEST(OutputFile, SymlinkLoopIsAnError) {
  OutputTempDir dir;
  std::filesystem::create_symlink("b", dir / "a");
  std::filesystem::create_symlink("a", dir / "b");
  EXPECT_NE(error_of([&] { write_file_atomically(dir / "a", "x"); }).find("symbolic links"), std::string::npos);
}

TEST(OutputFile, DirectoryIsRefused) {
  OutputTempDir dir;
  std::filesystem::create_directories(dir / "sub");
  EXPECT_NE(error_of([&] { OutputFile::open(dir / "sub"); }).find("is a directory"), std::string::npos);
  EXPECT_NE(error_of([&] { OutputFile::open(dir / "new" / ""); }).find("not a file name"), std::string::npos);
  EXPECT_NE(error_of([&] { OutputFile::open(""); }).find("no output path"), std::string::npos);
}

TEST(OutputFile, NewFileGetsTheUmaskedModeAndAReplacedFileKeepsItsBits) {
  OutputTempDir dir;
  const mode_t previous_umask = ::umask(027);
  write_file_atomically(dir / "new.csv", "a\n");
  ::umask(previous_umask);
  struct stat info {};
  ASSERT_EQ(::stat((dir / "new.csv").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0640u);
  ASSERT_EQ(::chmod((dir / "new.csv").c_str(), 04604), 0);  // set-id bits are not carried over
  write_file_atomically(dir / "new.csv", "b\n");
  ASSERT_EQ(::stat((dir / "new.csv").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0604u);
  EXPECT_EQ(contents_of(dir / "new.csv"), "b\n");
}

TEST(OutputFile, TemporaryIsUniqueHiddenAndBesideTheTarget) {
  OutputTempDir dir;
  OutputFile first = OutputFile::open(dir / "out.csv");
  OutputFile second = OutputFile::open(dir / "out.csv");
  EXPECT_NE(first.temporary(), second.temporary());
  EXPECT_EQ(first.temporary().parent_path(), dir.path());
  EXPECT_EQ(first.temporary().filename().string().rfind(".out.csv.", 0), 0u);
  EXPECT_EQ(first.temporary().filename().string().size(), std::string(".out.csv.").size() + 10);
  const std::string long_name(250, 'n');  // the temporary's name is shortened to fit NAME_MAX
  write_file_atomically(dir / long_name, "long");
  EXPECT_EQ(contents_of(dir / long_name), "long");
}

std::string fixed_suffix() { return "AAAAAAAAAA"; }
std::string colliding_then_fresh() {
  static std::atomic<int> calls{0};
  return calls++ < 2 ? "AAAAAAAAAA" : "BBBBBBBBBB";
}

TEST(OutputFile, SymlinkPlantedAtTheTemporaryNameIsNeverFollowed) {
  HookReset reset;
  OutputTempDir dir;
  const auto victim = dir / "victim";
  put_contents(victim, "precious\n");
  // Whatever name comes first is taken by a link: to an existing file, and (dangling) to a
  // file an attacker wants created.
  std::filesystem::create_symlink(victim, dir / ".out.csv.AAAAAAAAAA");
  std::filesystem::create_symlink(dir / "created", dir / ".other.csv.AAAAAAAAAA");
  output_testing::set_temporary_suffix_source(colliding_then_fresh);
  write_file_atomically(dir / "out.csv", "flows\n");
  write_file_atomically(dir / "other.csv", "more\n");
  EXPECT_EQ(contents_of(victim), "precious\n");
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(dir / "created")));
  EXPECT_EQ(contents_of(dir / "out.csv"), "flows\n");
  EXPECT_EQ(contents_of(dir / "other.csv"), "more\n");
  EXPECT_TRUE(std::filesystem::is_symlink(dir / ".out.csv.AAAAAAAAAA"));
}

TEST(OutputFile, EveryTemporaryNameTakenIsAnErrorThatChangesNothing) {
  HookReset reset;
  OutputTempDir dir;
  put_contents(dir / "out.csv", "previous\n");
  put_contents(dir / ".out.csv.AAAAAAAAAA", "someone else's\n");
  output_testing::set_temporary_suffix_source(fixed_suffix);
  EXPECT_NE(error_of([&] { write_file_atomically(dir / "out.csv", "new\n"); }).find("were all taken"),
            std::string::npos);
  EXPECT_EQ(contents_of(dir / "out.csv"), "previous\n");
  EXPECT_EQ(contents_of(dir / ".out.csv.AAAAAAAAAA"), "someone else's\n");
}

TEST(OutputFile, ConcurrentWritersToOnePathGiveOneWholeOutput) {
  OutputTempDir dir;
  const auto path = dir / "out.bin";
  constexpr size_t kChunk = 4096;
  constexpr size_t kChunks = 1024;  // 4 MiB each, many buffer flushes
  for (int round = 0; round < 5; ++round) {
    std::string errors[2];
    auto writer = [&](int which) {
      try {
        OutputFile out = OutputFile::open(path);
        const std::string chunk(kChunk, which == 0 ? 'a' : 'b');
        for (size_t i = 0; i < kChunks; ++i) {
          out.write(chunk);
          if (i % 64 == 0) std::this_thread::yield();
        }
        out.commit();
      } catch (const Error& e) {
        errors[which] = e.what();
      }
    };
    std::thread first(writer, 0);
    std::thread second(writer, 1);
    first.join();
    second.join();
    EXPECT_EQ(errors[0] + errors[1], "");
    const std::string text = contents_of(path);
    ASSERT_EQ(text.size(), kChunk * kChunks);
    EXPECT_TRUE(text == std::string(text.size(), 'a') || text == std::string(text.size(), 'b')) << "a mix";
    EXPECT_EQ(names_besides(dir.path(), {"out.bin"}), Names{});
  }
}

TEST(OutputFile, FailedWriteLeavesThePreviousFileAndNoTemporary) {
  OutputTempDir dir;
  const auto path = dir / "model.mids";
  put_contents(path, "previous model");
  // A file-size limit makes write() fail with EFBIG (SIGXFSZ ignored), as a full disk would.
  struct rlimit previous_limit {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &previous_limit), 0);
  const auto previous_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = previous_limit;
  small.rlim_cur = 1 << 16;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string error;
  Names left_over;
  {
    OutputFile out = OutputFile::open(path);
    try {
      for (int i = 0; i < 64; ++i) out.write(std::string(1 << 14, 'x'));
      out.commit();
    } catch (const Error& e) {
      error = e.what();
      left_over = names_besides(dir.path(), {"model.mids"});  // while `out` still lives
    }
    EXPECT_NE(error_of([&] { out.write("more"); }), "");
  }
  ::setrlimit(RLIMIT_FSIZE, &previous_limit);
  ::signal(SIGXFSZ, previous_handler);
  EXPECT_NE(error.find("cannot write"), std::string::npos) << error;
  EXPECT_NE(error.find(path.string()), std::string::npos) << error;
  EXPECT_EQ(left_over, Names{});
  EXPECT_EQ(contents_of(path), "previous model");
}

TEST(OutputFile, WriterDestroyedWithoutCommitLeavesThePreviousFile) {
  OutputTempDir dir;
  put_contents(dir / "out.csv", "previous\n");
  {
    OutputFile out = OutputFile::open(dir / "out.csv");
    out.write(std::string(1 << 20, 'x'));
    out.flush();
    EXPECT_TRUE(std::filesystem::exists(out.temporary()));
  }
  EXPECT_EQ(contents_of(dir / "out.csv"), "previous\n");
  EXPECT_EQ(names_besides(dir.path(), {"out.csv"}), Names{});
}

TEST(OutputFile, MovedWriterKeepsItsTemporaryUntilCommit) {
  OutputTempDir dir;
  OutputFile moved = OutputFile::open(dir / "out.csv");
  moved.write("a,");
  const auto temporary = moved.temporary();
  {
    OutputFile owner = std::move(moved);
    EXPECT_TRUE(std::filesystem::exists(temporary));
    owner.write("b\n");
    OutputFile again = OutputFile::open(dir / "other.csv");
    again = std::move(owner);  // other.csv's temporary is dropped
    again.commit();
    EXPECT_TRUE(again.committed());
    again.commit();  // idempotent
    EXPECT_NE(error_of([&] { again.write("late"); }).find("already committed"), std::string::npos);
  }
  EXPECT_EQ(contents_of(dir / "out.csv"), "a,b\n");
  EXPECT_EQ(names_besides(dir.path(), {"out.csv"}), Names{});
}

std::atomic<int> g_directory_syncs{0};
int counting_sync(int fd) {
  struct stat info {};
  if (::fstat(fd, &info) == 0 && S_ISDIR(info.st_mode)) ++g_directory_syncs;
  return ::fsync(fd);
}
int failing_sync(int /*fd*/) {
  errno = EIO;
  return -1;
}
int unsupported_sync(int /*fd*/) {
  errno = EINVAL;
  return -1;
}

TEST(OutputFile, DirectoryIsSyncedAfterTheRenameAndItsFailureReported) {
  HookReset reset;
  OutputTempDir dir;
  output_testing::set_directory_sync(counting_sync);
  g_directory_syncs = 0;
  write_file_atomically(dir / "a.json", "1");
  EXPECT_EQ(g_directory_syncs.load(), 1);
  write_file_atomically("-", "");  // streamed: no directory to sync
  EXPECT_EQ(g_directory_syncs.load(), 1);

  output_testing::set_directory_sync(failing_sync);
  const std::string error = error_of([&] { write_file_atomically(dir / "a.json", "2"); });
  EXPECT_NE(error.find("syncing its directory"), std::string::npos) << error;
  EXPECT_NE(error.find("may not survive a crash"), std::string::npos) << error;
  EXPECT_EQ(contents_of(dir / "a.json"), "2");  // in place, but not known to be durable
  EXPECT_EQ(names_besides(dir.path(), {"a.json"}), Names{});

  output_testing::set_directory_sync(unsupported_sync);  // EINVAL: cannot be synced, not a failure
  write_file_atomically(dir / "a.json", "3");
  EXPECT_EQ(contents_of(dir / "a.json"), "3");
}

TEST(OutputFile, RemoveTemporaryOutputsUnlinksLiveTemporaries) {
  OutputTempDir dir;
  put_contents(dir / "out.csv", "previous\n");
  OutputFile out = OutputFile::open(dir / "out.csv");
  out.write("partial");
  out.flush();
  ASSERT_TRUE(std::filesystem::exists(out.temporary()));
  remove_temporary_outputs();
  EXPECT_EQ(names_besides(dir.path(), {"out.csv"}), Names{});
  EXPECT_NE(error_of([&] { out.commit(); }), "");  // its temporary is gone
  EXPECT_EQ(contents_of(dir / "out.csv"), "previous\n");
  write_file_atomically(dir / "out.csv", "later\n");  // the registry slot was released
  EXPECT_EQ(contents_of(dir / "out.csv"), "later\n");
}

// In a child process: an output is being written when `signal_number` arrives.
int child_status_after_signal(const std::filesystem::path& path, int signal_number, bool ignore_first) {
  const pid_t child = ::fork();
  if (child == 0) {
    if (ignore_first) ::signal(signal_number, SIG_IGN);
    install_output_cleanup_on_signals();
    OutputFile out = OutputFile::open(path);
    out.write(std::string(100000, 'x'));
    out.flush();
    ::raise(signal_number);
    // Only reached when the signal is ignored: the temporary must still be there.
    ::_exit(std::filesystem::exists(out.temporary()) ? 0 : 3);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return status;
}

TEST(OutputFile, FatalSignalsRemoveTheTemporary) {
  for (const int signal_number : {SIGINT, SIGTERM, SIGHUP}) {
    OutputTempDir dir;
    put_contents(dir / "out.csv", "previous\n");
    const int status = child_status_after_signal(dir / "out.csv", signal_number, false);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == signal_number) << "status " << status;
    EXPECT_EQ(names_besides(dir.path(), {"out.csv"}), Names{}) << strsignal(signal_number);
    EXPECT_EQ(contents_of(dir / "out.csv"), "previous\n");
  }
}

TEST(OutputFile, AnIgnoredSignalStaysIgnored) {
  OutputTempDir dir;
  const int status = child_status_after_signal(dir / "out.csv", SIGHUP, true);  // as under nohup
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

}  // namespace
}  // namespace metaids::test
