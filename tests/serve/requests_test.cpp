#include "serve/requests.h"

#include <gtest/gtest.h>

namespace metaids::serve {
namespace {

detect::InputLayout small_layout() {
  detect::InputLayout l;
  l.numeric = {"Flow Duration", "Total Fwd Packet", "Protocol"};
  l.categories = {{"proto", {"tcp", "udp"}}};
  l.schema = data::cicflowmeter_schema();
  return l;
}

int status_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const RequestError& e) {
    return e.status();
  }
  return 200;
}

TEST(Requests, BodyFormatFromContentType) {
  EXPECT_EQ(body_format(""), BodyFormat::json);
  EXPECT_EQ(body_format("application/json; charset=utf-8"), BodyFormat::json);
  EXPECT_EQ(body_format("Text/CSV"), BodyFormat::csv);
  EXPECT_EQ(status_of([] { body_format("application/x-www-form-urlencoded"); }), 415);
}

TEST(Requests, JsonRowsAndFlowsReadAsTheSameCsv) {
  const auto layout = small_layout();
  const std::string csv =
      "Flow Duration,Total Fwd Packet,Protocol,proto,Src IP,Dst IP,Src Port,Dst Port\n"
      "1.5,3,6,tcp,10.0.0.1,10.0.0.2,1234,80\n2,1,17,udp,10.0.0.3,10.0.0.4,53,53\n";
  const std::string rows =
      R"({"columns":["Flow Duration","Total Fwd Packet","Protocol","proto","Src IP","Dst IP","Src Port","Dst Port"],)"
      R"("rows":[[1.5,3,6,"tcp","10.0.0.1","10.0.0.2",1234,80],[2,1,17,"udp","10.0.0.3","10.0.0.4",53,53]]})";
  const std::string flows =
      R"({"flows":[{"Flow Duration":1.5,"Total Fwd Packet":3,"Protocol":6,"proto":"tcp","Src IP":"10.0.0.1",)"
      R"("Dst IP":"10.0.0.2","Src Port":1234,"Dst Port":80},{"Flow Duration":2,"Total Fwd Packet":1,"Protocol":17,)"
      R"("proto":"udp","Src IP":"10.0.0.3","Dst IP":"10.0.0.4","Src Port":53,"Dst Port":53}]})";
  const FlowBatch a = parse_flow_rows(csv, BodyFormat::csv, layout, 10);
  const FlowBatch b = parse_flow_rows(rows, BodyFormat::json, layout, 10);
  const FlowBatch c = parse_flow_rows(flows, BodyFormat::json, layout, 10);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a.raw, b.raw);
  EXPECT_EQ(a.raw, c.raw);
  EXPECT_EQ(a.width, 5u);
  EXPECT_EQ((std::vector<float>(a.raw.begin(), a.raw.begin() + 5)), (std::vector<float>{1.5f, 3, 6, 1, 0}));
  EXPECT_TRUE(b.records[1].has_identity);
  EXPECT_EQ(b.records[1].src_ip, "10.0.0.3");
  EXPECT_EQ(c.records[0].dst_port, 80);
}

TEST(Requests, MalformedBodiesAre4xx) {
  const auto layout = small_layout();
  auto score = [&](const std::string& body, BodyFormat f = BodyFormat::json) {
    return status_of([&] { parse_flow_rows(body, f, layout, 3); });
  };
  EXPECT_EQ(score("not json"), 400);
  EXPECT_EQ(score("[1,2]"), 400);
  EXPECT_EQ(score(R"({"rows":[[1]]})"), 400);                          // no columns
  EXPECT_EQ(score(R"({"columns":["Flow Duration"],"rows":[[1]]})"), 400);  // missing columns
  EXPECT_EQ(score(R"({"columns":["a"],"rows":[[{"x":1}]]})"), 400);       // nested value
  EXPECT_EQ(score(R"({"columns":["a"],"rows":[["a\nb"]]})"), 400);        // control character
  EXPECT_EQ(score(R"({"flows":[{"a":1},{"b":1}]})"), 400);                // other keys
  EXPECT_EQ(score(R"({"rows":[],"columns":["a"],"x":1})"), 400);          // unknown key
  EXPECT_EQ(score(R"({"a":1,"a":2})"), 400);                              // duplicate key
  EXPECT_EQ(score(std::string(100, '[')), 400);                           // too deep
  EXPECT_EQ(score("", BodyFormat::csv), 400);
  EXPECT_EQ(score("Flow Duration\n\"open", BodyFormat::csv), 400);
  EXPECT_EQ(score(R"({"columns":["Flow Duration","Total Fwd Packet","Protocol","proto"],"rows":[[1,1,1,"tcp"],)"
                  R"([1,1,1,"tcp"],[1,1,1,"tcp"],[1,1,1,"tcp"]]})"),
            413);
  EXPECT_EQ(score("Flow Duration,Total Fwd Packet,Protocol,proto\n1,1,1,tcp\n1,1,1,tcp\n1,1,1,tcp\n1,1,1,tcp\n",
                  BodyFormat::csv),
            413);
}

TEST(Requests, AdaptRequests) {
  const auto layout = small_layout();
  const RequestLimits limits;
  const auto ids = parse_adapt_request(R"({"label":"C2 beacon","flow_ids":[5,"3",5],"severity":1})", BodyFormat::json,
                                       "", layout, limits);
  EXPECT_EQ(ids.label, "C2 beacon");
  EXPECT_EQ(ids.flow_ids, (std::vector<std::uint64_t>{3, 5}));
  EXPECT_EQ(ids.severity, 1);
  const auto rows = parse_adapt_request("Flow Duration,Total Fwd Packet,Protocol,proto\n1,2,6,tcp\n", BodyFormat::csv,
                                        "New", layout, limits);
  EXPECT_EQ(rows.flows.size(), 1u);
  EXPECT_EQ(rows.label, "New");
  auto adapt = [&](const std::string& body, const std::string& label = "") {
    return status_of([&] { parse_adapt_request(body, BodyFormat::json, label, layout, limits); });
  };
  EXPECT_EQ(adapt(R"({"flow_ids":[1]})"), 400);                              // no label
  EXPECT_EQ(adapt(R"({"label":"unknown","flow_ids":[1]})"), 400);            // reserved
  EXPECT_EQ(adapt(R"({"label":"a\u0001","flow_ids":[1]})"), 400);            // control character
  EXPECT_EQ(adapt(R"({"label":"x","flow_ids":[-1]})"), 400);
  EXPECT_EQ(adapt(R"({"label":"x","flow_ids":[]})"), 400);
  EXPECT_EQ(adapt(R"({"label":"x","flow_ids":[1],"rows":[]})"), 400);       // both
  EXPECT_EQ(adapt(R"({"label":"x","flow_ids":[1],"severity":9})"), 400);
  EXPECT_EQ(adapt(R"({"label":"x","flow_ids":[1]})", "y"), 400);             // two labels
  EXPECT_EQ(adapt(R"({"label":")" + std::string(300, 'a') + R"(","flow_ids":[1]})"), 400);
  EXPECT_EQ(adapt(R"({"label":"x","columns":["Flow Duration","Total Fwd Packet","Protocol","proto"],"rows":[]})"), 400);
  EXPECT_EQ(check_label("\xff", 10), "the label is not valid UTF-8");
  EXPECT_EQ(check_label("Überfall", 20), "");
}

TEST(Requests, Rollback) {
  EXPECT_EQ(parse_rollback_request(R"({"version":"3F2A9C81D0E4"})").version, "3f2a9c81d0e4");
  EXPECT_EQ(status_of([] { parse_rollback_request(R"({"version":"../../etc"})"); }), 400);
  EXPECT_EQ(status_of([] { parse_rollback_request(R"({"version":"3f2a9c81d0e4","x":1})"); }), 400);
  EXPECT_EQ(status_of([] { parse_rollback_request(R"({})"); }), 400);
}

}  // namespace
}  // namespace metaids::serve
