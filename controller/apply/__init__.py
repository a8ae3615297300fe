"""Apply: perform a plan's actions with helm, dependencies first, deciding nothing."""

from controller.apply.charts import ChartDownloads, chart_locator
from controller.apply.executor import Executor
from controller.apply.scheduler import run_plan

__all__ = ["ChartDownloads", "Executor", "chart_locator", "run_plan"]
