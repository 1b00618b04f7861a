#include "process/subprocess_stream_protocol.h"

#include <algorithm>
#include <utility>

#include "process/stdin_transport.h"

namespace aio::internal {

SubprocessStreamProtocol::SubprocessStreamProtocol(EventLoop& loop, std::size_t limit)
    : loop_(&loop),
      limit_(limit),
      stdin_flow_(std::make_shared<StreamReaderProtocol>(loop, std::nullopt)) {}

void SubprocessStreamProtocol::connection_made(SubprocessTransport& transport) {
  transport_ = SubprocessTransportRef::share(&transport);
  for (int fd : {1, 2}) {
    auto* pipe = dynamic_cast<ReadTransport*>(transport.get_pipe_transport(fd));
    if (pipe == nullptr) continue;
    StreamReader reader(*loop_, limit_);
    reader.set_transport(*pipe);
    (fd == 1 ? stdout : stderr) = std::move(reader);
    pipe_fds_.push_back(fd);
  }
  if (auto* pipe = dynamic_cast<WriteTransport*>(transport.get_pipe_transport(0))) {
    TransportRef writer_transport =
        TransportRef::share(new StdinTransport(Ref<WriteTransport>::share(pipe)));
    stdin.emplace(std::move(writer_transport), stdin_flow_, std::nullopt, *loop_);
  }
}

void SubprocessStreamProtocol::pipe_data_received(int fd, std::span<const std::byte> data) {
  std::optional<StreamReader>& reader = fd == 1 ? stdout : stderr;
  if ((fd == 1 || fd == 2) && reader) reader->feed_data(data);
}

void SubprocessStreamProtocol::pipe_connection_lost(int fd, std::exception_ptr error) {
  if (fd == 0) {
    if (stdin) stdin->close();
    // Wakes drain() waiters (FlowControlMixin.connection_lost); a later drain() raises.
    stdin_flow_->connection_lost(error);
    // Nobody has to retrieve stdin's error: a child that stops reading is ordinary.
    if (error) (void)stdin_flow_->closed().exception();
    return;
  }
  std::optional<StreamReader>& reader = fd == 1 ? stdout : stderr;
  if ((fd == 1 || fd == 2) && reader) {
    if (error) {
      reader->set_exception(error);
    } else {
      reader->feed_eof();
    }
  }
  std::erase(pipe_fds_, fd);
  maybe_close_transport();
}

void SubprocessStreamProtocol::process_exited() {
  process_exited_ = true;
  maybe_close_transport();
}

void SubprocessStreamProtocol::pause_writing() { stdin_flow_->pause_writing(); }

void SubprocessStreamProtocol::resume_writing() { stdin_flow_->resume_writing(); }

void SubprocessStreamProtocol::maybe_close_transport() {
  if (pipe_fds_.empty() && process_exited_ && transport_) {
    transport_->close();
    transport_.reset();
  }
}

}  // namespace aio::internal
