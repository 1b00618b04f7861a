// asyncio.subprocess.SubprocessStreamProtocol (internal to //process): the protocol behind a
// Process. It turns the child's stdout/stderr pipes into StreamReaders, its stdin pipe into a
// StreamWriter, and closes the transport once the child exited and both readers saw EOF.
#ifndef AIO_PROCESS_SUBPROCESS_STREAM_PROTOCOL_H_
#define AIO_PROCESS_SUBPROCESS_STREAM_PROTOCOL_H_

#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "loop/event_loop.h"
#include "net/stream_reader.h"
#include "net/stream_reader_protocol.h"
#include "net/stream_writer.h"
#include "process/subprocess_protocol.h"

namespace aio::internal {

class SubprocessStreamProtocol final : public SubprocessProtocol {
 public:
  SubprocessStreamProtocol(EventLoop& loop, std::size_t limit);

  void connection_made(SubprocessTransport& transport) override;
  void pipe_data_received(int fd, std::span<const std::byte> data) override;
  void pipe_connection_lost(int fd, std::exception_ptr error) override;
  void process_exited() override;
  void pause_writing() override;
  void resume_writing() override;

  std::optional<StreamWriter> stdin;
  std::optional<StreamReader> stdout;
  std::optional<StreamReader> stderr;

 private:
  void maybe_close_transport();

  EventLoop* loop_;
  std::size_t limit_;
  // stdin's flow control (asyncio's FlowControlMixin), what StreamWriter.drain() waits on.
  std::shared_ptr<StreamReaderProtocol> stdin_flow_;
  SubprocessTransportRef transport_;
  std::vector<int> pipe_fds_;  // the read pipes not closed yet
  bool process_exited_ = false;
};

}  // namespace aio::internal

#endif  // AIO_PROCESS_SUBPROCESS_STREAM_PROTOCOL_H_
