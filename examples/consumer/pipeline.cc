// A consumer's program written against the umbrella module: `import aio;` and no aio header
// (its BUILD rule is cc_module_binary from @aio//bazel:cc_module.bzl). Three producer tasks feed
// a bounded queue, one consumer task sums what it takes, gather() waits for the producers, and
// the sum goes through a loopback TCP echo (streams) before it is printed.
#include <coroutine>  // a module does not export the standard library: coroutines need it
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

import aio;

namespace {

aio::Coro<int> produce(aio::Queue<int>& queue, int first, int count) {
  for (int i = first; i < first + count; ++i) {
    co_await queue.put(i);
    co_await aio::sleep(0);
  }
  co_return count;
}

aio::Coro<void> consume(aio::Queue<int>& queue, long& sum) {
  for (;;) {
    sum += co_await queue.get();
    queue.task_done();
  }
}

aio::Coro<std::string> echo(std::string line) {
  aio::ServerRef server = co_await aio::start_server(
      [](aio::StreamReader reader, aio::StreamWriter writer) -> aio::Coro<void> {
        writer.write(std::string_view(co_await reader.readline()));
        co_await writer.drain();
        writer.close();
      },
      "127.0.0.1", 0);
  auto [reader, writer] =
      co_await aio::open_connection("127.0.0.1", server->sockets().front().getsockname().port());
  writer.write(std::string_view(line));
  std::string reply = co_await aio::wait_for(reader.readline(), 10);
  writer.close();
  co_await writer.wait_closed();
  server->close();
  co_await server->wait_closed();
  co_return reply;
}

aio::Coro<std::string> pipeline() {
  aio::Queue<int> queue(/*maxsize=*/4);
  long sum = 0;
  aio::Task<void> consumer = aio::create_task(consume(queue, sum));
  std::vector<aio::Coro<int>> producers;
  producers.push_back(produce(queue, 1, 100));
  producers.push_back(produce(queue, 101, 100));
  producers.push_back(produce(queue, 201, 100));
  std::vector<int> counts = co_await aio::wait_for(aio::gather(std::move(producers)), 10);
  co_await aio::wait_for(queue.join(), 10);
  consumer.cancel();
  int items = 0;
  for (int count : counts) items += count;
  co_return co_await echo(std::to_string(items) + " items, sum " + std::to_string(sum) + "\n");
}

}  // namespace

int main() {
  std::string line = aio::run(pipeline());
  std::fputs(line.c_str(), stdout);
  return 0;
}
