"""camera_node and the frame sources it reads from (RealSense, OpenCV/V4L2, software device)."""
