// Draw the dashboard's charts from the chart data the page embeds (the tables beside them
// hold the same numbers, each a link, for people who would rather read and for screen
// readers). Every axis starts at zero; a click on a bar or point opens its requests.
(function () {
  const source = document.getElementById("chart-data");
  if (!source || !window.Chart) return;
  const charts = JSON.parse(source.textContent);
  const blue = "#005eb8";
  const green = "#007f3b";
  function open(chart) {
    return (_event, elements) => {
      if (elements.length) window.location.href = chart.links[elements[0].index];
    };
  }
  function withShare(chart) {
    return (item) => {
      const share = chart.percents ? chart.percents[item.dataIndex] : null;
      return item.formattedValue + (share === null || share === undefined ? "" : " (" + share + "%)");
    };
  }
  function bar(id, chart) {
    new Chart(document.getElementById(id), {
      type: "bar",
      data: { labels: chart.labels, datasets: [{ label: chart.title, data: chart.values, backgroundColor: blue }] },
      options: {
        animation: false,
        onClick: open(chart),
        scales: { y: { beginAtZero: true, min: chart.min, ticks: { precision: 0 } } },
        plugins: { legend: { display: false }, tooltip: { callbacks: { label: withShare(chart) } } },
      },
    });
  }
  bar("chart-hour", charts.hour);
  bar("chart-day", charts.day);
  bar("chart-outcome", charts.outcome);
  const week = charts.week;
  new Chart(document.getElementById("chart-week"), {
    type: "line",
    data: {
      labels: week.labels,
      datasets: [
        { label: "Requests", data: week.values, borderColor: blue, backgroundColor: blue, yAxisID: "y" },
        { label: week.within_label, data: week.within, borderColor: green, backgroundColor: green, yAxisID: "percent" },
      ],
    },
    options: {
      animation: false,
      onClick: open(week),
      scales: {
        y: { beginAtZero: true, min: week.min, ticks: { precision: 0 }, title: { display: true, text: "Requests" } },
        percent: { position: "right", min: 0, max: 100, title: { display: true, text: "% answered within 30 s" }, grid: { drawOnChartArea: false } },
      },
    },
  });
  document.querySelectorAll("canvas").forEach((canvas) => { canvas.style.cursor = "pointer"; });
})();
