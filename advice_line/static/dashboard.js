// Draw the dashboard's charts from the figures in the page (the tables beside them hold
// the same numbers for people who would rather read, and for screen readers).
(function () {
  const source = document.getElementById("board-data");
  if (!source || !window.Chart) return;
  const data = JSON.parse(source.textContent);
  const blue = "#005eb8";
  function bar(id, labels, values) {
    new Chart(document.getElementById(id), {
      type: "bar",
      data: { labels, datasets: [{ data: values, backgroundColor: blue }] },
      options: { plugins: { legend: { display: false } }, animation: false },
    });
  }
  bar("chart-hour", data.hour.map((_, h) => String(h).padStart(2, "0")), data.hour);
  bar("chart-day", data.days, data.day);
  bar("chart-outcome", Object.keys(data.outcomes).map((o) => o.replaceAll("_", " ")), Object.values(data.outcomes));
  const weeks = Object.keys(data.weeks);
  new Chart(document.getElementById("chart-week"), {
    type: "line",
    data: { labels: weeks, datasets: [{ label: "Requests", data: weeks.map((w) => data.weeks[w].volume), borderColor: blue }] },
    options: { animation: false },
  });
})();
