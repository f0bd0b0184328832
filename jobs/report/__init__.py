# SPDX-License-Identifier: Apache-2.0
"""``tracer report``: a case's trace runs as one self-contained HTML file (and the same as PDF).

The parts: :mod:`jobs.report.data` gathers what the report states (runs, seeds, tags, clusters, the
raw records of every transaction it cites, data sources, audit head); :mod:`jobs.report.flow_dot`
draws the flow graph with Graphviz; :mod:`jobs.report.sankey` draws the value Sankey as SVG;
:mod:`jobs.report.rates` converts amounts to fiat where the user gives rates; :mod:`jobs.report.render`
fills the Jinja2 template and prints the PDF with WeasyPrint; :mod:`jobs.report.run` is the job.
"""
