// Starts GraphiQL on /graphql, with subscriptions over the same path.
(function () {
  var ws = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/graphql";
  var fetcher = GraphiQL.createFetcher({ url: "/graphql", subscriptionUrl: ws });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultEditorToolsVisibility: "headers",
    defaultHeaders: '{"Authorization": "Bearer "}',
    defaultQuery: "{\n  me { subject roles }\n  risks(first: 10) { totalCount edges { node { reference title band } } }\n}\n"
  }));
})();
